package alipay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// phoneResponse is what decrypt.getPhoneNumber is given: the content (the
// base64 ciphertext, or a JSON object when Alipay did not encrypt it),
// the raw JSON text the sign covers, the sign and its type.
type phoneResponse struct {
	content   string
	encrypted bool
	signed    []byte
	sign      string
	signType  string
}

// readPhoneResponse reads the body: {"response": "<res.response>"} (the
// whole message my.getPhoneNumber gives, a JSON string) or its members
// {response, sign?, signType?}.
func readPhoneResponse(in map[string]any) (*phoneResponse, error) {
	resp, ok := in["response"].(string)
	if !ok || strings.TrimSpace(resp) == "" {
		return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "missing required parameter: response (res.response of my.getPhoneNumber)")
	}
	if t := strings.TrimSpace(resp); strings.HasPrefix(t, "{") {
		// The whole message: the sign covers the response member as sent.
		if !json.Valid([]byte(t)) {
			return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "response is not the JSON text my.getPhoneNumber gives")
		}
		m := gjson.Parse(t)
		member := m.Get("response")
		p := &phoneResponse{signed: []byte(member.Raw), sign: m.Get("sign").String(), signType: m.Get("sign_type").String()}
		switch member.Type {
		case gjson.String:
			p.content, p.encrypted = member.String(), true
		case gjson.JSON:
			p.content = member.Raw
		default:
			return nil, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "response holds no response member")
		}
		return p, nil
	}
	// The members: the sign covers the ciphertext with its double quotes.
	p := &phoneResponse{content: resp, encrypted: true, signed: []byte(`"` + resp + `"`)}
	p.sign, _ = in["sign"].(string)
	p.signType = firstString(in, "signType")
	return p, nil
}

// servePhoneNumber answers decrypt.getPhoneNumber locally: the sign, when
// present, verified with Alipay's key; the content decrypted with aes_key.
func (a *Alipay) servePhoneNumber(w http.ResponseWriter, in map[string]any) (string, error) {
	p, err := readPhoneResponse(in)
	if err != nil {
		return "", err
	}
	if p.sign != "" {
		if p.signType != "" && p.signType != "RSA2" && p.signType != "RSA" {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadSignature, "sign_type must be RSA2 or RSA")
		}
		if err := a.client.VerifyContent(p.signed, p.sign, p.signType); err != nil {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadSignature, "the response's sign does not verify with Alipay's key: it was not made by Alipay for this app, or it was changed")
		}
	}
	plain := []byte(p.content)
	if p.encrypted {
		if a.aesKey == nil {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "the response is encrypted and aes_key is not configured: set aes_key to the app's content-encryption key (接口内容加密方式)")
		}
		if plain, err = alipay.DecryptContent(a.aesKey, p.content); err != nil {
			return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "the response could not be decrypted with aes_key")
		}
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return "", handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "the response could not be decrypted with aes_key")
	}
	if code, _ := fields["code"].(string); code != "10000" {
		errCode, errMsg := pick(fields, "subCode", "sub_code", "code"), pick(fields, "subMsg", "sub_msg", "msg")
		if errCode == "" {
			errCode = "UNKNOWN"
		}
		handlers.ProviderErrors.WithLabelValues("alipay", apiGetPhoneNumber, errCode).Inc()
		handlers.WriteAnswer(w, map[string]any{"errCode": errCode, "errMsg": errMsg})
		return "provider_error", nil
	}
	handlers.WriteAnswer(w, camelFields(fields))
	return "ok", nil
}

// pick is the first of names that is a non-empty string in fields.
func pick(fields map[string]any, names ...string) string {
	for _, n := range names {
		if s, _ := fields[n].(string); s != "" {
			return s
		}
	}
	return ""
}
