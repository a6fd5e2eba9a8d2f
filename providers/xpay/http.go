package xpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// DefaultEndpoint is WeChat's API host.
const DefaultEndpoint = "https://api.weixin.qq.com"

// MaxAnswer bounds WeChat's answer (1 MiB).
const MaxAnswer = 1 << 20

// TokenSource is an app's access token authority (one token per endpoint and appid, shared by every handler).
type TokenSource interface {
	// Token returns the current token.
	Token(ctx context.Context) (string, error)
	// Refresh drops rejected, which WeChat refused, and returns a fresh token (the same one for every call that saw
	// rejected refused).
	Refresh(ctx context.Context, rejected string) (string, error)
}

// HTTPCaller is a Caller over HTTP with a TokenSource.
type HTTPCaller struct {
	// Endpoint is WeChat's API host (DefaultEndpoint when empty): an emulator or egress proxy.
	Endpoint string
	// HTTP is the client (http.DefaultClient when nil); the caller's ctx bounds each call.
	HTTP *http.Client
	// Tokens gives the access tokens.
	Tokens TokenSource
	// OnTokenRejected, when set, is told of each token WeChat refused (errcode 40001, 40014, 42001).
	OnTokenRejected func(errcode int64)
}

// Post implements Caller.
func (h *HTTPCaller) Post(ctx context.Context, path string, query url.Values, body []byte) ([]byte, error) {
	tok, err := h.Tokens.Token(ctx)
	if err != nil {
		return nil, tokenError(err)
	}
	ans, code, err := h.post(ctx, path, query, tok, body)
	if err != nil || !tokenRejected(code) {
		return ans, err
	}
	if h.OnTokenRejected != nil {
		h.OnTokenRejected(code)
	}
	if tok, err = h.Tokens.Refresh(ctx, tok); err != nil {
		return nil, tokenError(err)
	}
	ans, _, err = h.post(ctx, path, query, tok, body)
	return ans, err
}

func tokenError(err error) error {
	return &pay.Error{Kind: ErrTokenUnavailable, Msg: "no access token could be obtained: check app_id and secret",
		Err: err}
}

func tokenRejected(code int64) bool { return code == 40001 || code == 40014 || code == 42001 }

func (h *HTTPCaller) post(ctx context.Context, path string, query url.Values, token string,
	body []byte) ([]byte, int64, error) {
	q := make(url.Values, len(query)+1)
	for k, v := range query {
		q[k] = v
	}
	q.Set("access_token", token)
	endpoint := strings.TrimRight(h.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, pay.Upstream(false, "bad endpoint", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	client := h.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error text holds the URL and with it the token: never pass it on.
		return nil, 0, pay.Upstream(isTimeout(ctx, err), "WeChat could not be reached", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	switch {
	case err != nil:
		return nil, 0, pay.Upstream(isTimeout(ctx, err), "WeChat's answer could not be read", nil)
	case len(raw) > MaxAnswer:
		return nil, 0, pay.Upstream(false, "WeChat's answer is too large", nil)
	case resp.StatusCode >= 300:
		return nil, 0, pay.Upstream(false, "WeChat answered HTTP "+resp.Status, nil)
	}
	var e struct {
		Errcode int64 `json:"errcode"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return nil, 0, pay.Upstream(false, "WeChat's answer is not JSON", nil)
	}
	return raw, e.Errcode, nil
}

func isTimeout(ctx context.Context, err error) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
