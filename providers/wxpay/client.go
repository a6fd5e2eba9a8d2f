package wxpay

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
	"github.com/caddy-unicloud/unicloud/providers/perr"
	"github.com/caddy-unicloud/unicloud/signing"
)

// DefaultEndpoint is WeChat Pay's API host.
const DefaultEndpoint = "https://api.mch.weixin.qq.com"

// sandboxPrefix is put before every path in WeChat Pay's v2 simulation
// environment (仿真测试系统): /sandboxnew/pay/unifiedorder,
// /sandboxnew/secapi/pay/refund, …
const sandboxPrefix = "/sandboxnew"

// Bounds of what is read from WeChat Pay.
const (
	maxAnswerBytes = 1 << 20
	// MaxBillBytes bounds a downloaded bill, after gzip decompression.
	MaxBillBytes = 64 << 20
)

// Client calls the WeChat Pay APIv2 of one merchant: requests are flat XML
// documents signed with the APIv2 key (MD5 or HMAC-SHA256), answers are
// XML documents whose sign is checked before any field is used.
//
// A Client is safe for concurrent use once configured; its fields must not
// change after the first call.
type Client struct {
	// AppID is the appid bound to the merchant (mini-program, app or
	// official account).
	AppID string
	// MchID is the merchant id (商户号).
	MchID string
	// Key is the APIv2 key (32 bytes, set in the merchant platform).
	Key string
	// SignType is signing.SignTypeMD5 (default) or
	// signing.SignTypeHMACSHA256.
	SignType string
	// Endpoint is the API host (default DefaultEndpoint), without a
	// trailing slash.
	Endpoint string
	// Sandbox sends every call to the /sandboxnew paths, signed with the
	// sandbox key that /sandboxnew/pay/getsignkey hands out (fetched once,
	// then cached).
	Sandbox bool
	// HTTP sends the calls that need no certificate (default
	// http.DefaultClient).
	HTTP *http.Client
	// CertHTTP sends the calls that need the merchant certificate (refund,
	// downloadfundflow): its transport presents apiclient_cert. Nil: those
	// calls fail with ErrNoCertificate.
	CertHTTP *http.Client
	// Now is the clock of the orderInfo timestamps (default time.Now).
	Now func() time.Time
	// Nonce makes nonce_str values (default signing.NonceStr).
	Nonce func() string

	sandboxMu  sync.Mutex
	sandboxKey string
}

// ErrNoCertificate is returned by the calls that need the merchant
// certificate when CertHTTP is nil.
var ErrNoCertificate = errors.New("wxpay: this call needs the merchant certificate (pfx)")

// UpstreamError is a call that did not produce a usable answer: WeChat Pay
// unreachable, too slow, an HTTP error, or an unreadable document. It is
// the type every provider client shares (Provider "wxpay").
type UpstreamError = perr.UpstreamError

// SignatureError is an answer whose sign is missing or does not verify
// (the merchant's key, a platform key): its content must not be used. It
// is the type every provider client shares (Provider "wxpay").
type SignatureError = perr.SignatureError

// sigError is the SignatureError of a WeChat Pay answer whose check failed
// with err.
func sigError(err error) *SignatureError { return &SignatureError{Provider: "wxpay", Err: err} }

// BusinessError is an authentic answer that reports a failure: return_code
// FAIL (the request was refused: bad signature, bad parameter) or
// result_code FAIL (the business call failed: ORDERPAID, NOTENOUGH…).
// Code is err_code (or error_code, or return_code when there is neither)
// and Msg err_code_des (or return_msg).
type BusinessError struct {
	Code   string
	Msg    string
	Fields map[string]string
}

func (e *BusinessError) Error() string { return "wxpay: " + e.Code + ": " + e.Msg }

// ParamError is a request that cannot be sent as given.
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

// validName reports whether k can be a field (an XML element) of a v2
// request: ASCII letters, digits and underscores, not starting with a
// digit.
func validName(k string) bool {
	if k == "" || len(k) > 64 || ('0' <= k[0] && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// API is one v2 call.
type API struct {
	// Path is the production path, e.g. /pay/unifiedorder.
	Path string
	// Cert: the call needs the merchant certificate (mutual TLS).
	Cert bool
	// SignType forces a sign type (downloadfundflow accepts HMAC-SHA256
	// only); empty uses the client's.
	SignType string
	// Bill: a successful answer is a bill (text, maybe gzip), not XML.
	Bill bool
	// NoAppID: the call takes no appid (getsignkey).
	NoAppID bool
}

// The v2 calls of the unified payment API.
var (
	APIUnifiedOrder     = API{Path: "/pay/unifiedorder"}
	APIOrderQuery       = API{Path: "/pay/orderquery"}
	APICloseOrder       = API{Path: "/pay/closeorder"}
	APIRefund           = API{Path: "/secapi/pay/refund", Cert: true}
	APIRefundQuery      = API{Path: "/pay/refundquery"}
	APIDownloadBill     = API{Path: "/pay/downloadbill", Bill: true}
	APIDownloadFundflow = API{Path: "/pay/downloadfundflow", Cert: true, Bill: true, SignType: signing.SignTypeHMACSHA256}
	apiGetSignKey       = API{Path: "/pay/getsignkey", NoAppID: true}
)

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return c.Endpoint
}

func (c *Client) signType() string {
	if c.SignType == "" {
		return signing.SignTypeMD5
	}
	return c.SignType
}

func (c *Client) nonce() string {
	if c.Nonce != nil {
		return c.Nonce()
	}
	return signing.NonceStr()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// URL is where api is sent.
func (c *Client) URL(api API) string {
	if api == apiGetSignKey {
		return c.endpoint() + sandboxPrefix + "/pay/getsignkey"
	}
	if c.Sandbox {
		return c.endpoint() + sandboxPrefix + api.Path
	}
	return c.endpoint() + api.Path
}

// SignKey is the key requests and orderInfo are signed with: the APIv2
// key, or in the sandbox the sandbox key (fetched on first use).
func (c *Client) SignKey(ctx context.Context) (string, error) {
	if !c.Sandbox {
		return c.Key, nil
	}
	c.sandboxMu.Lock()
	defer c.sandboxMu.Unlock()
	if c.sandboxKey != "" {
		return c.sandboxKey, nil
	}
	// getsignkey is signed MD5 with the real key; its answer carries no
	// sign of its own (only its return_code is checked).
	fields, err := c.send(ctx, apiGetSignKey, nil, c.Key, signing.SignTypeMD5)
	if err != nil {
		return "", err
	}
	if err := checkReturn(fields); err != nil {
		return "", err
	}
	k := fields["sandbox_signkey"]
	if k == "" {
		return "", &UpstreamError{Provider: "wxpay", Reason: "getsignkey answered no sandbox_signkey"}
	}
	c.sandboxKey = k
	return k, nil
}

// Request builds the signed XML body of a call: params plus appid (AppID,
// unless params name another appid of the merchant), mch_id, nonce_str,
// sign_type (when not MD5) and sign.
func (c *Client) Request(api API, params map[string]string, key, signType string) ([]byte, error) {
	p := make(map[string]string, len(params)+5)
	for k, v := range params {
		if !validName(k) {
			return nil, &ParamError{Msg: fmt.Sprintf("parameter name %q is not a WeChat Pay field name", shortID(k))}
		}
		if v != "" {
			p[k] = v
		}
	}
	if !api.NoAppID && p["appid"] == "" {
		p["appid"] = c.AppID
	}
	p["mch_id"] = c.MchID
	p["nonce_str"] = c.nonce()
	delete(p, "sign_type")
	if signType != signing.SignTypeMD5 {
		p["sign_type"] = signType
	}
	sign, err := signing.WxpayV2Sign(p, key, signType)
	if err != nil {
		return nil, err
	}
	p["sign"] = sign
	return EncodeXML(p), nil
}

// Call sends one call and returns the fields of its verified answer. A
// provider failure is a *BusinessError (with the answer's fields when it
// was signed); an answer that fails the signature check a *SignatureError;
// no usable answer an *UpstreamError. params may name the appid (another
// appid bound to the merchant; default AppID): the answer must name the
// same.
func (c *Client) Call(ctx context.Context, api API, params map[string]string) (map[string]string, error) {
	if api.Bill {
		return nil, errors.New("wxpay: bill calls go through Bill")
	}
	key, signType, err := c.keyFor(ctx, api)
	if err != nil {
		return nil, err
	}
	fields, err := c.send(ctx, api, params, key, signType)
	if err != nil {
		return nil, err
	}
	if fields, err = c.verify(fields, key, signType, c.appIDOf(params)); err != nil {
		return nil, err
	}
	// Callers get every amount as integer fen: a signed answer with a
	// fraction or a text where an amount or a count belongs is not used.
	for k, v := range fields {
		if v != "" && numberField(k) && !isDigits(v) {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "answer: " + k + " is not an integer"}
		}
	}
	return fields, nil
}

func isDigits(s string) bool {
	if len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Bill downloads a bill (downloadbill, downloadfundflow) and returns its
// text, decompressed when WeChat Pay sent it gzipped (tar_type GZIP). Bills
// are not signed; a failure comes back as a signed or unsigned XML
// document and is returned as a *BusinessError.
func (c *Client) Bill(ctx context.Context, api API, params map[string]string) ([]byte, error) {
	key, signType, err := c.keyFor(ctx, api)
	if err != nil {
		return nil, err
	}
	body, err := c.post(ctx, api, params, key, signType, MaxBillBytes)
	if err != nil {
		return nil, err
	}
	if isGzip(body) {
		return gunzipBill(body)
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); bytes.HasPrefix(trimmed, []byte("<xml>")) {
		fields, err := ParseNotifyXML(trimmed, "xml")
		if err != nil {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: unreadable failure document: " + err.Error()}
		}
		if _, err := c.verify(fields, key, signType, c.appIDOf(params)); err != nil {
			return nil, err
		}
		// A document where a bill was expected but that reports no failure.
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: an XML document instead of the bill"}
	}
	return body, nil
}

func (c *Client) keyFor(ctx context.Context, api API) (key, signType string, err error) {
	if api.Cert && c.CertHTTP == nil {
		return "", "", ErrNoCertificate
	}
	signType = api.SignType
	if signType == "" {
		signType = c.signType()
	}
	key, err = c.SignKey(ctx)
	return key, signType, err
}

// send posts a call and parses the XML answer, unverified.
func (c *Client) send(ctx context.Context, api API, params map[string]string, key, signType string) (map[string]string, error) {
	body, err := c.post(ctx, api, params, key, signType, maxAnswerBytes)
	if err != nil {
		return nil, err
	}
	fields, err := ParseNotifyXML(body, "xml")
	if err != nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "unreadable answer: " + err.Error()}
	}
	return fields, nil
}

func (c *Client) post(ctx context.Context, api API, params map[string]string, key, signType string, limit int64) ([]byte, error) {
	reqBody, err := c.Request(api, params, key, signType)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL(api), bytes.NewReader(reqBody))
	if err != nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bad endpoint"}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml, text/plain, application/octet-stream")
	hc := c.HTTP
	if api.Cert {
		hc = c.CertHTTP
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := readAnswer(ctx, resp, limit)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &UpstreamError{Provider: "wxpay", Reason: fmt.Sprintf("HTTP %d from %s", resp.StatusCode, api.Path)}
	}
	return body, nil
}

// readAnswer reads at most limit bytes of an answer; one that declares a
// larger Content-Length is refused before it is read.
func readAnswer(ctx context.Context, resp *http.Response, limit int64) ([]byte, error) {
	b, err := bounded.ReadBody(resp, limit)
	var tooLarge *bounded.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "WeChat Pay " + tooLarge.Error()}
	}
	if err != nil {
		return nil, transportError(ctx, err)
	}
	return b, nil
}

func transportError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return &UpstreamError{Provider: "wxpay", Reason: "WeChat Pay did not answer in time", Timeout: true}
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return &UpstreamError{Provider: "wxpay", Reason: "WeChat Pay did not answer in time", Timeout: true}
	}
	return &UpstreamError{Provider: "wxpay", Reason: "WeChat Pay unreachable"}
}

// checkReturn turns return_code FAIL into a *BusinessError. Such answers
// are usually unsigned: they are trusted only to say that the call failed.
func checkReturn(fields map[string]string) error {
	if fields["return_code"] == "SUCCESS" {
		return nil
	}
	code := firstOf(fields, "err_code", "error_code", "return_code")
	if code == "" {
		code = "FAIL"
	}
	return &BusinessError{Code: code, Msg: firstOf(fields, "err_code_des", "return_msg"), Fields: nil}
}

// verify checks an answer: return_code, then the sign (with the key and
// sign type of the request), then the merchant (mch_id, and appID: the
// appid of the request), then result_code.
func (c *Client) verify(fields map[string]string, key, signType, appID string) (map[string]string, error) {
	if err := checkReturn(fields); err != nil {
		return nil, err
	}
	if err := signing.WxpayV2VerifyType(fields, key, signType); err != nil {
		return nil, sigError(err)
	}
	if m := fields["mch_id"]; m != "" && m != c.MchID {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "answer for another merchant"}
	}
	if a := fields["appid"]; a != "" && appID != "" && a != appID {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "answer for another appid"}
	}
	if rc := fields["result_code"]; rc != "" && rc != "SUCCESS" {
		code := firstOf(fields, "err_code", "error_code", "result_code")
		return nil, &BusinessError{Code: code, Msg: firstOf(fields, "err_code_des", "return_msg"), Fields: fields}
	}
	return fields, nil
}

// appIDOf is the appid a call with params names.
func (c *Client) appIDOf(params map[string]string) string {
	if a := params["appid"]; a != "" {
		return a
	}
	return c.AppID
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// EncodeXML writes params as WeChat Pay's flat <xml> document: keys sorted,
// every value in CDATA (a "]]>" inside a value is split across two CDATA
// sections).
func EncodeXML(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	size := 11
	for k, v := range params {
		keys = append(keys, k)
		size += 2*len(k) + len(v) + 17
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString("<xml>")
	for _, k := range keys {
		b.WriteString("<" + k + "><![CDATA[")
		b.WriteString(strings.ReplaceAll(params[k], "]]>", "]]]]><![CDATA[>"))
		b.WriteString("]]></" + k + ">")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// isGzip reports whether a bill came gzip-compressed (WeChat Pay sends
// bills gzipped when asked with tar_type=GZIP, and v3 download URLs may).
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// gunzipBill decompresses a bill, bounded by MaxBillBytes.
func gunzipBill(body []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: bad gzip stream"}
	}
	text, err := io.ReadAll(io.LimitReader(zr, MaxBillBytes+1))
	if err != nil {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: bad gzip stream"}
	}
	if len(text) > MaxBillBytes {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: too large"}
	}
	return text, nil
}
