package wxpay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// DefaultV3MaxSkew is how far an APIv3 answer's Wechatpay-Timestamp may be
// from now, either way, when ClientV3.MaxSkew is not set.
const DefaultV3MaxSkew = 5 * time.Minute

// ClientV3 calls the WeChat Pay APIv3 of one merchant: every request is
// signed with the merchant API private key (Authorization:
// WECHATPAY2-SHA256-RSA2048 over METHOD\nURL\ntimestamp\nnonce\nbody\n),
// and every answer's Wechatpay-Signature is checked, with the platform key
// its Wechatpay-Serial names and within MaxSkew, before any of it is used.
//
// A ClientV3 is safe for concurrent use once configured; its fields must
// not change after the first call.
type ClientV3 struct {
	// AppID is the appid bound to the merchant.
	AppID string
	// MchID is the merchant id (商户号).
	MchID string
	// PrivateKey is the merchant API private key (apiclient_key.pem).
	PrivateKey *rsa.PrivateKey
	// SerialNo is the serial of the merchant API certificate, sent as
	// serial_no in Authorization.
	SerialNo string
	// PlatformKeys finds the platform key an answer's Wechatpay-Serial
	// names (a platform certificate serial or a PUB_KEY_ID_…). When it is a
	// PlatformKeyRefresher, an unknown serial causes one refresh before the
	// answer is refused.
	PlatformKeys PlatformKeySource
	// MaxSkew is how old (or how far ahead) an answer's Wechatpay-Timestamp
	// may be (default DefaultV3MaxSkew).
	MaxSkew time.Duration
	// Endpoint is the API host (default DefaultEndpoint), without a
	// trailing slash. Requests are signed over the WeChat Pay path, so an
	// egress proxy must forward the path as it is.
	Endpoint string
	// HTTP sends the calls (default http.DefaultClient).
	HTTP *http.Client
	// Now is the clock of signatures, orderInfo and the freshness check
	// (default time.Now).
	Now func() time.Time
	// Nonce makes nonce strings (default signing.NonceStr).
	Nonce func() string
}

// V3Response is an APIv3 answer whose signature has been checked (or, for
// a bill file, whose transport succeeded: files are not signed).
type V3Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrNoPlatformKeys is returned when a ClientV3 has no PlatformKeys: no
// answer could be trusted.
var ErrNoPlatformKeys = errors.New("wxpay v3: no platform key is configured")

func (c *ClientV3) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return c.Endpoint
}

func (c *ClientV3) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *ClientV3) nonce() string {
	if c.Nonce != nil {
		return c.Nonce()
	}
	return signing.NonceStr()
}

func (c *ClientV3) maxSkew() time.Duration {
	if c.MaxSkew > 0 {
		return c.MaxSkew
	}
	return DefaultV3MaxSkew
}

// NewRequest builds a signed APIv3 request: pathQuery is the WeChat Pay
// path with its query (/v3/pay/transactions/id/4200…?mchid=…), body the
// exact JSON sent (nil for GET). The signature covers the request URI as
// it will be sent.
func (c *ClientV3) NewRequest(ctx context.Context, method, pathQuery string, body []byte) (*http.Request, error) {
	if c.PrivateKey == nil {
		return nil, fmt.Errorf("wxpay v3: no merchant private key: %w", signing.ErrBadKey)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint()+pathQuery, rd)
	if err != nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bad endpoint or path"}
	}
	auth, err := signing.WxpayV3Authorization(c.MchID, c.SerialNo, c.PrivateKey, method,
		req.URL.RequestURI(), string(body), strconv.FormatInt(c.now().Unix(), 10), c.nonce())
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "caddy-unicloud (+https://github.com/caddy-unicloud/unicloud)")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Do sends one signed call and returns its verified answer. A 2xx answer
// must carry a valid signature (else *SignatureError). A failure answer
// ({"code": …, "message": …} with a 4xx or 5xx status) is a
// *BusinessError: when it is signed the signature must verify; an unsigned
// one is trusted only to say that the call failed. Anything else is an
// *UpstreamError.
func (c *ClientV3) Do(ctx context.Context, method, pathQuery string, body []byte) (*V3Response, error) {
	resp, err := c.send(ctx, method, pathQuery, body, maxAnswerBytes)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		if resp.Header.Get("Wechatpay-Signature") != "" {
			if err := c.Verify(ctx, resp.Header, resp.Body); err != nil {
				return nil, err
			}
		}
		return nil, v3Failure(resp, pathQuery)
	}
	if err := c.Verify(ctx, resp.Header, resp.Body); err != nil {
		return nil, err
	}
	return resp, nil
}

// send signs and sends a request and reads at most limit bytes of the
// answer, unverified.
func (c *ClientV3) send(ctx context.Context, method, pathQuery string, body []byte, limit int64) (*V3Response, error) {
	req, err := c.NewRequest(ctx, method, pathQuery, body)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := readAnswer(ctx, resp, limit)
	if err != nil {
		return nil, err
	}
	return &V3Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// v3Failure turns a failure answer into a *BusinessError when it is
// WeChat Pay's {"code", "message"}, an *UpstreamError otherwise.
func v3Failure(resp *V3Response, pathQuery string) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(resp.Body, &e) == nil && e.Code != "" {
		return &BusinessError{Code: e.Code, Msg: e.Message}
	}
	path, _, _ := strings.Cut(pathQuery, "?")
	return &UpstreamError{Provider: "wxpay", Reason: fmt.Sprintf("HTTP %d from %s", resp.Status, path)}
}

// Verify checks an APIv3 answer's signature headers over its exact body:
// Wechatpay-Timestamp within MaxSkew of now, the key Wechatpay-Serial
// names (one refresh when the serial is unknown and PlatformKeys can
// refresh), and Wechatpay-Signature over timestamp\nnonce\nbody\n. Every
// failure is a *SignatureError.
func (c *ClientV3) Verify(ctx context.Context, header http.Header, body []byte) error {
	if c.PlatformKeys == nil {
		return sigError(ErrNoPlatformKeys)
	}
	sig := header.Get("Wechatpay-Signature")
	ts := header.Get("Wechatpay-Timestamp")
	nonce := header.Get("Wechatpay-Nonce")
	serial := header.Get("Wechatpay-Serial")
	if sig == "" {
		return sigError(fmt.Errorf("Wechatpay-Signature is absent: %w", signing.ErrMissingSignature))
	}
	if ts == "" || nonce == "" || serial == "" {
		return sigError(fmt.Errorf("Wechatpay-Timestamp, -Nonce or -Serial is absent: %w", signing.ErrMissingSignature))
	}
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 || ts[0] == '-' || ts[0] == '+' {
		return sigError(fmt.Errorf("Wechatpay-Timestamp is not a Unix time: %w", signing.ErrBadSignature))
	}
	if skew := c.now().Sub(time.Unix(sent, 0)); skew > c.maxSkew() || -skew > c.maxSkew() {
		return sigError(fmt.Errorf("Wechatpay-Timestamp is %s away from now, more than %s: %w",
			skew.Round(time.Second), c.maxSkew(), signing.ErrBadSignature))
	}
	pub, err := c.platformKey(ctx, serial)
	if err != nil {
		return err
	}
	if err := signing.WxpayV3Verify(pub, ts, nonce, body, sig); err != nil {
		return sigError(err)
	}
	return nil
}

// ErrUnknownSerial is the cause of a *SignatureError for an answer signed
// with a platform key that is not known, even after a refresh.
var ErrUnknownSerial = errors.New("Wechatpay-Serial names no known platform key")

func (c *ClientV3) platformKey(ctx context.Context, serial string) (*rsa.PublicKey, error) {
	now := c.now()
	if pub, ok := c.PlatformKeys.PlatformKey(serial, now); ok && pub != nil {
		return pub, nil
	}
	if r, ok := c.PlatformKeys.(PlatformKeyRefresher); ok {
		if err := r.RefreshPlatformKeys(ctx); err == nil {
			if pub, ok := r.PlatformKey(serial, now); ok && pub != nil {
				return pub, nil
			}
		}
	}
	return nil, sigError(fmt.Errorf("%w (%q)", ErrUnknownSerial, shortID(serial)))
}

// DoJSON sends a call whose body is in (nil: no body) and decodes the
// verified answer into a JSON object (numbers as json.Number). An empty
// answer (204) is an empty object.
func (c *ClientV3) DoJSON(ctx context.Context, method, pathQuery string, in any) (map[string]any, error) {
	var body []byte
	if in != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(in); err != nil {
			return nil, &ParamError{Msg: "the request cannot be encoded as JSON"}
		}
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	resp, err := c.Do(ctx, method, pathQuery, body)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(resp.Body)) == 0 {
		return out, nil
	}
	if err := decodeOneJSON(resp.Body, &out); err != nil || out == nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "unreadable answer: not a JSON object"}
	}
	if field, ok := v3AmountsAreFen(out, false); !ok {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "answer: " + field + " is not an amount in fen"}
	}
	return out, nil
}

// v3AmountsAreFen checks that every amount of an answer (the members of
// amount objects, and amount members themselves, currencies aside) is a
// non-negative integer: callers get fen, never a fraction or a text. It
// returns the first offending member.
func v3AmountsAreFen(v any, inAmount bool) (string, bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if strings.Contains(k, "currency") {
				continue
			}
			amount := inAmount || k == "amount"
			if amount {
				switch n := m.(type) {
				case json.Number:
					if i, err := n.Int64(); err != nil || i < 0 {
						return k, false
					}
					continue
				case string, bool:
					return k, false
				}
			}
			if f, ok := v3AmountsAreFen(m, amount && isObject(m)); !ok {
				return f, false
			}
		}
	case []any:
		for _, m := range x {
			if f, ok := v3AmountsAreFen(m, false); !ok {
				return f, false
			}
		}
	}
	return "", true
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}
