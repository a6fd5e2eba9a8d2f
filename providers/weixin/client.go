package weixin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
	"github.com/caddy-unicloud/unicloud/providers/perr"
)

// DefaultEndpoint is WeChat's API host.
const DefaultEndpoint = "https://api.weixin.qq.com"

// Client calls the WeChat server API at Endpoint. With Tokens set, Call
// adds the app's access token and owns the one retry when WeChat rejects it.
type Client struct {
	Endpoint string
	// Transport, when set, sends every call straight to the transport
	// (the gateway's way: no redirect is ever followed, a 3xx is an
	// answer, and no per-call client machinery runs). Otherwise HTTP
	// sends them (default http.DefaultClient).
	Transport http.RoundTripper
	HTTP      *http.Client
	// MaxAnswer bounds the size of a provider answer (default 16 MiB).
	MaxAnswer int64
	// Tokens is the token authority (shared by every client of a
	// process); nil when every call carries its own token or AccessToken
	// is set.
	Tokens *TokenManager
	// TokenMode is TokenStable (default) or TokenClassic.
	TokenMode string
	// AccessToken is a fixed access token: sent with every call, never
	// fetched nor refreshed.
	AccessToken string
	// TokenTimeout bounds each token fetch (default 10s).
	TokenTimeout time.Duration
	// OnTokenRejected, when set, is told that WeChat rejected the
	// authority's token of appID with errcode and the call is retried once
	// (for logs).
	OnTokenRejected func(appID string, errcode int64)

	appsMu sync.RWMutex
	apps   map[string]*appToken // appid -> its token key and fetch
}

// UpstreamError is a failure to get a usable answer from the provider:
// unreachable, a 5xx, an unreadable answer. It never carries a token. It
// is the type every provider client shares (Provider empty: the reason
// alone is the message).
type UpstreamError = perr.UpstreamError

// Upload is a file sent to the provider as multipart/form-data.
type Upload struct {
	Filename    string
	ContentType string
	Data        []byte
}

// Request is one provider call.
type Request struct {
	API *API
	// Method and Path override the row's (generic request).
	Method, Path string
	// Query holds extra query parameters (the generic request's own).
	Query url.Values
	// Params are the provider parameters (see API.PrepareParams).
	Params map[string]any
	// Body, when set, is a POST's JSON body, sent as these exact bytes
	// instead of Params (a signed body: virtual payment's pay_sig covers
	// them, so a retry resends them unchanged).
	Body []byte
	// Token is the access token to send; empty for calls without one.
	Token  string
	Upload *Upload
}

// Answer is the provider's answer.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
	// JSON: Body is a JSON object (an error, or a JSON API's answer).
	JSON bool
	// ErrCode is the provider's errcode (0 when absent).
	ErrCode int64
}

// tokenRejected reports whether the provider refused the access token: the
// caller should drop it, get another and retry once.
func (a *Answer) tokenRejected() bool {
	switch a.ErrCode {
	case 40001, 40014, 42001:
		return true
	}
	return false
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

// roundTrip sends req through Transport or HTTP.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	if c.Transport != nil {
		return c.Transport.RoundTrip(req)
	}
	if c.HTTP == nil {
		return http.DefaultClient.Do(req)
	}
	return c.HTTP.Do(req)
}

// CloseIdleConnections closes the idle connections of Transport or HTTP.
func (c *Client) CloseIdleConnections() {
	if t, ok := c.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	if c.HTTP != nil {
		c.HTTP.CloseIdleConnections()
	}
}

// Do sends the request and reads the answer.
func (c *Client) Do(ctx context.Context, r *Request) (*Answer, error) {
	method, path := r.Method, r.Path
	if method == "" {
		method = r.API.Method
	}
	if path == "" {
		path = r.API.Path
	}
	var inQuery []string
	if r.API != nil {
		inQuery = r.API.InQuery
	}
	var body io.Reader
	contentType := ""
	params := r.Params
	u := c.endpoint() + path
	if method == http.MethodPost && len(r.Query) == 0 && len(inQuery) == 0 && r.Upload == nil {
		// The common call: a JSON body and only the token in the query.
		b := []byte("{}")
		if r.Body != nil {
			b = r.Body
		} else if params != nil {
			var err error
			if b, err = marshalParams(params); err != nil {
				return nil, err
			}
		}
		body, contentType = bytes.NewReader(b), "application/json"
		if r.Token != "" {
			u += querySep(u) + "access_token=" + url.QueryEscape(r.Token)
		}
	} else {
		q := url.Values{}
		for k, vs := range r.Query {
			q[k] = vs
		}
		if method == http.MethodGet {
			if err := addQuery(q, params, sortedKeys(params)); err != nil {
				return nil, err
			}
		} else {
			// A POST carries its parameters in the body; only the
			// row's InQuery parameters (and the token) go in the
			// query string.
			rest := params
			if rest == nil {
				rest = map[string]any{}
			}
			if len(inQuery) > 0 {
				rest = make(map[string]any, len(params))
				for k, v := range params {
					rest[k] = v
				}
				for _, k := range inQuery {
					delete(rest, k)
				}
			}
			if err := addQuery(q, params, inQuery); err != nil {
				return nil, err
			}
			if r.Upload != nil {
				buf, ct, err := multipartBody(r.API.Upload, r.Upload, rest)
				if err != nil {
					return nil, err
				}
				body, contentType = buf, ct
			} else if r.Body != nil {
				body, contentType = bytes.NewReader(r.Body), "application/json"
			} else {
				b, err := marshalParams(rest)
				if err != nil {
					return nil, err
				}
				body, contentType = bytes.NewReader(b), "application/json"
			}
		}
		if r.Token != "" {
			q.Set("access_token", r.Token)
		}
		if len(q) > 0 {
			u += querySep(u) + q.Encode()
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, &UpstreamError{Reason: "bad provider request"}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.send(req)
}

// querySep is what joins a query to u: "?", or "&" when u has one.
func querySep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

func (c *Client) send(req *http.Request) (*Answer, error) {
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, transportError(err)
	}
	defer resp.Body.Close()
	limit := c.MaxAnswer
	if limit <= 0 {
		limit = 16 << 20
	}
	b, err := bounded.ReadBody(resp, limit)
	var tooLarge *bounded.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &UpstreamError{Reason: "provider " + tooLarge.Error()}
	}
	if err != nil {
		return nil, transportError(err)
	}
	if resp.StatusCode >= 500 {
		return nil, &UpstreamError{Reason: fmt.Sprintf("provider answered HTTP %d", resp.StatusCode), Unreachable: true}
	}
	a := &Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' && isJSONType(a.ContentType, trimmed) {
		if !json.Valid(trimmed) { // iterative, depth-bounded: gjson.ValidBytes recurses without a limit
			return nil, &UpstreamError{Reason: "provider answered unparseable JSON"}
		}
		a.JSON = true
		a.Body = trimmed
		a.ErrCode = gjson.GetBytes(trimmed, "errcode").Int()
	}
	return a, nil
}

// isJSONType: WeChat answers JSON errors with "application/json",
// "text/plain" or no type at all, and files with their own type.
func isJSONType(ct string, body []byte) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/")
}

func transportError(err error) error {
	var ne interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &UpstreamError{Reason: "provider did not answer in time", Timeout: true}
	}
	return &UpstreamError{Reason: "provider unreachable", Unreachable: true}
}

func sortedKeys(params map[string]any) []string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addQuery puts the parameters named by keys (those present) in q.
func addQuery(q url.Values, params map[string]any, keys []string) error {
	for _, k := range keys {
		v, ok := params[k]
		if !ok {
			continue
		}
		s, err := paramString(v)
		if err != nil {
			return &ParamError{Param: k, Reason: "parameter cannot be sent in a query string"}
		}
		q.Set(k, s)
	}
	return nil
}

func multipartBody(field string, up *Upload, params map[string]any) (io.Reader, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range params {
		s, err := paramString(v)
		if err != nil {
			return nil, "", err
		}
		if err := w.WriteField(k, s); err != nil {
			return nil, "", err
		}
	}
	name := up.Filename
	if name == "" {
		name = "file" + extension(up.ContentType)
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name))
	// The caller's content type becomes a part header: only a well-formed
	// media type is kept (no CR/LF smuggled into the form).
	ct := up.ContentType
	if mt, _, err := mime.ParseMediaType(ct); err != nil || strings.ContainsAny(ct, "\r\n") {
		ct = http.DetectContentType(up.Data)
	} else {
		ct = mt
	}
	h.Set("Content-Type", ct)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(up.Data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return &buf, w.FormDataContentType(), nil
}

func extension(ct string) string {
	switch strings.ToLower(ct) {
	case "image/png":
		return ".png"
	case "image/jpeg", "image/jpg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	}
	return ""
}

// FetchStableToken calls /cgi-bin/stable_token: the same token for every
// caller while it is valid, unless force is set.
func (c *Client) FetchStableToken(ctx context.Context, appid, secret string, force bool) (Token, error) {
	b, _ := json.Marshal(map[string]any{
		"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint()+"/cgi-bin/stable_token", bytes.NewReader(b))
	if err != nil {
		return Token{}, &UpstreamError{Reason: "bad token request"}
	}
	req.Header.Set("Content-Type", "application/json")
	return c.tokenAnswer(req)
}

// FetchClassicToken calls /cgi-bin/token: every call makes a new token and
// retires the previous one after five minutes.
func (c *Client) FetchClassicToken(ctx context.Context, appid, secret string) (Token, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appid}, "secret": {secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint()+"/cgi-bin/token?"+q.Encode(), nil)
	if err != nil {
		return Token{}, &UpstreamError{Reason: "bad token request"}
	}
	return c.tokenAnswer(req)
}

// TokenError is the provider's refusal to issue a token.
type TokenError struct {
	ErrCode int64
	ErrMsg  string
}

func (e *TokenError) Error() string { return fmt.Sprintf("token refused: %d %s", e.ErrCode, e.ErrMsg) }

func (c *Client) tokenAnswer(req *http.Request) (Token, error) {
	start := time.Now()
	a, err := c.send(req)
	if err != nil {
		return Token{}, err
	}
	if !a.JSON {
		return Token{}, &UpstreamError{Reason: "token answer is not JSON"}
	}
	if a.ErrCode != 0 {
		return Token{}, &TokenError{ErrCode: a.ErrCode, ErrMsg: gjson.GetBytes(a.Body, "errmsg").String()}
	}
	v := gjson.GetBytes(a.Body, "access_token").String()
	exp := gjson.GetBytes(a.Body, "expires_in").Int()
	if v == "" || exp <= 0 {
		return Token{}, &UpstreamError{Reason: "token answer without access_token"}
	}
	return Token{Value: v, FetchedAt: start, ExpiresAt: start.Add(time.Duration(exp) * time.Second)}, nil
}
