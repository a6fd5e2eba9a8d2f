package weixin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// callError maps a failed Call to the caller's answer.
func callError(err error) error {
	var tue *weixin.TokenUnavailableError
	if errors.As(err, &tue) {
		return tokenError(tue.Err)
	}
	return upstreamError(err)
}

// tokenError maps a failed token fetch.
func tokenError(err error) error {
	var ue *weixin.UpstreamError
	if errors.As(err, &ue) && ue.Timeout {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "access token: "+ue.Reason)
	}
	if ue != nil && ue.Unreachable {
		// The provider itself is down: the same error as any other call.
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "access token: "+ue.Reason)
	}
	var te *weixin.TokenError
	if errors.As(err, &te) {
		return handlers.NewError(http.StatusBadGateway, handlers.ErrTokenUnavailable,
			fmt.Sprintf("access token could not be obtained (provider errcode %d)", te.ErrCode))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "access token: provider did not answer in time")
	}
	return handlers.NewError(http.StatusBadGateway, handlers.ErrTokenUnavailable, "access token could not be obtained")
}

func upstreamError(err error) error {
	var pe *weixin.ParamError
	if errors.As(err, &pe) {
		return paramError(pe)
	}
	var ue *weixin.UpstreamError
	if errors.As(err, &ue) {
		if ue.Timeout {
			return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, ue.Reason)
		}
		return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, ue.Reason)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return handlers.NewError(http.StatusGatewayTimeout, handlers.ErrUpstreamTimeout, "provider did not answer in time")
	}
	return handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider call failed")
}

func paramError(err error) error {
	return handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, err.Error())
}

// answer turns the provider's answer into the caller's.
func (wx *Weixin) answer(w http.ResponseWriter, api *weixin.API, ans *weixin.Answer, c *call) (string, error) {
	if !ans.JSON {
		if !api.Binary || ans.Status >= 300 {
			return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered an unexpected content type")
		}
		ct := ans.ContentType
		if ct == "" {
			ct = http.DetectContentType(ans.Body)
		}
		if strings.HasPrefix(strings.ToLower(ct), "text/") {
			// A file API answered a page (a proxy's error page, a
			// captive portal): not the caller's file.
			return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered an unexpected content type")
		}
		if c.base64 {
			body, _ := json.Marshal(map[string]any{
				"errCode": 0, "errMsg": "ok", "contentType": ct,
				"buffer": base64.StdEncoding.EncodeToString(ans.Body),
			})
			handlers.WriteJSON(w, http.StatusOK, body)
			return "ok", nil
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(ans.Body)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ans.Body)
		return "ok", nil
	}
	body, err := casing.CamelJSON(ans.Body)
	if err != nil {
		return "", handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered unparseable JSON")
	}
	body = withErrFields(body)
	outcome := "ok"
	if ans.ErrCode != 0 {
		outcome = "provider_error"
		handlers.ProviderErrors.WithLabelValues("weixin", api.Name, strconv.FormatInt(ans.ErrCode, 10)).Inc()
	}
	handlers.WriteJSON(w, http.StatusOK, body)
	return outcome, nil
}

// withErrFields adds errCode 0 and errMsg "ok" to a camelCase answer that
// has no errCode (WeChat omits it on success for some APIs).
func withErrFields(body []byte) []byte {
	res := gjson.GetBytes(body, "errCode")
	if res.Exists() {
		if !gjson.GetBytes(body, "errMsg").Exists() {
			return insertFields(body, `"errMsg":"ok"`)
		}
		return body
	}
	return insertFields(body, `"errCode":0,"errMsg":"ok"`)
}

func insertFields(obj []byte, fields string) []byte {
	i := bytes.IndexByte(obj, '{')
	if i < 0 {
		return obj
	}
	rest := bytes.TrimLeft(obj[i+1:], " \t\r\n")
	out := make([]byte, 0, len(obj)+len(fields)+1)
	out = append(out, obj[:i+1]...)
	out = append(out, fields...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}
