package alipay

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
	"github.com/caddy-unicloud/unicloud/providers/perr"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Alipay's open platform gateways.
const (
	DefaultEndpoint = "https://openapi.alipay.com/gateway.do"
	SandboxEndpoint = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
)

// maxAnswerBytes bounds a gateway answer.
const maxAnswerBytes = 1 << 20

// Client calls Alipay's open platform gateway for one application: each
// call is a form-encoded request signed RSA2 with the application private
// key; each answer's sign is checked with the Alipay public key over the
// exact bytes of its *_response member before anything in it is used.
// It is safe for concurrent use once configured.
type Client struct {
	// AppID is the application's app_id.
	AppID string
	// PrivateKey is the application private key (signs requests).
	PrivateKey *rsa.PrivateKey
	// AlipayPublicKey is Alipay's public key (verifies answers): not the
	// application's own public key.
	AlipayPublicKey *rsa.PublicKey
	// Certs, when set, is certificate mode (公钥证书模式): every request
	// carries app_cert_sn and alipay_root_cert_sn, and answers are verified
	// with the Alipay certificate their alipay_cert_sn names (AlipayPublicKey
	// is then not used).
	Certs *Certs
	// Endpoint is the gateway URL (default DefaultEndpoint).
	Endpoint string
	// HTTP sends the calls (default http.DefaultClient).
	HTTP *http.Client
	// Now is the clock of the timestamp parameter (default time.Now).
	Now func() time.Time
}

// UpstreamError is a call that produced no usable answer: the gateway
// unreachable, too slow, an HTTP error, or an unreadable answer. It is the
// type every provider client shares (Provider "alipay").
type UpstreamError = perr.UpstreamError

// SignatureError is an answer whose sign is missing or does not verify
// with Alipay's key: its content must not be used. It is the type every
// provider client shares (Provider "alipay"); for an answer signed by an
// Alipay certificate that is not configured, Hint names its
// alipay_cert_sn and the fix.
type SignatureError = perr.SignatureError

// signatureError is the SignatureError of an answer whose check failed
// with err; certSN is the answer's alipay_cert_sn (certificate mode).
func signatureError(err error, certSN string) *SignatureError {
	se := &SignatureError{Provider: "alipay", Err: err}
	if errors.Is(err, ErrUnknownCertSN) {
		// Alipay rotates its certificate: the merchant downloads the new
		// one from the console.
		se.Hint = "the provider's answer names alipay_cert_sn " + shortID(certSN) +
			", which is not a configured alipay_cert: add Alipay's current certificate (alipayCertPublicKey_RSA2.crt from the console) as another alipay_cert"
	}
	return se
}

// BusinessError is an answer whose code is not 10000: the call failed
// (ACQ.TRADE_NOT_EXIST, isv.code-invalid…). Fields holds the answer's
// members when the answer was signed (nil otherwise: an unsigned failure is
// trusted only to say that the call failed).
type BusinessError struct {
	Code    string
	Msg     string
	SubCode string
	SubMsg  string
	Fields  map[string]any
}

func (e *BusinessError) Error() string { return "alipay: " + e.ErrCode() + ": " + e.ErrMsg() }

// ErrCode is sub_code, or code when there is none.
func (e *BusinessError) ErrCode() string {
	if e.SubCode != "" {
		return e.SubCode
	}
	return e.Code
}

// ErrMsg is sub_msg, or msg when there is none.
func (e *BusinessError) ErrMsg() string {
	if e.SubMsg != "" {
		return e.SubMsg
	}
	return e.Msg
}

// chinaTime is defined in notify.go: the gateway's timestamp is China time.

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return c.Endpoint
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// SignedParams returns the parameters of a gateway call: the public ones
// (app_id, method, format, charset, sign_type, timestamp, version), extra
// (notify_url, grant_type, code…), biz_content when not nil, and sign: RSA2
// over every parameter but sign, sorted, as Alipay checks requests.
func (c *Client) SignedParams(method string, bizContent []byte, extra map[string]string) (url.Values, error) {
	if c.PrivateKey == nil {
		return nil, errors.New("alipay: no application private key")
	}
	p := make(map[string]string, len(extra)+9)
	for k, v := range extra {
		if v != "" {
			p[k] = v
		}
	}
	p["app_id"] = c.AppID
	p["method"] = method
	p["format"] = "JSON"
	p["charset"] = "utf-8"
	p["sign_type"] = signing.SignTypeRSA2
	p["timestamp"] = c.now().In(chinaTime).Format(time.DateTime)
	p["version"] = "1.0"
	if bizContent != nil {
		p["biz_content"] = string(bizContent)
	}
	if c.Certs != nil {
		p["app_cert_sn"] = c.Certs.AppCertSN
		p["alipay_root_cert_sn"] = c.Certs.RootCertSN
	}
	sign, err := signing.AlipaySign(c.PrivateKey, []byte(signing.AlipaySignContent(p, true)), signing.SignTypeRSA2)
	if err != nil {
		return nil, err
	}
	form := make(url.Values, len(p)+1)
	for k, v := range p {
		form.Set(k, v)
	}
	form.Set("sign", sign)
	return form, nil
}

// OrderString is a signed request that the client SDK sends itself rather
// than the server (alipay.trade.app.pay): the parameters, sorted and
// URL-encoded, sign included. No network call is made.
func (c *Client) OrderString(method string, bizContent []byte, extra map[string]string) (string, error) {
	form, err := c.SignedParams(method, bizContent, extra)
	if err != nil {
		return "", err
	}
	return form.Encode(), nil
}

// ResponseKey is the member of the answer that holds a method's result:
// alipay.trade.query → alipay_trade_query_response.
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// Execute sends a gateway call and returns the members of its verified
// *_response object (numbers as json.Number). A failure reported by
// Alipay is a *BusinessError; an answer that fails the signature check a
// *SignatureError; no usable answer an *UpstreamError.
func (c *Client) Execute(ctx context.Context, method string, bizContent []byte, extra map[string]string) (map[string]any, error) {
	form, err := c.SignedParams(method, bizContent, extra)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &UpstreamError{Provider: "alipay", Reason: "bad endpoint"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := bounded.ReadBody(resp, maxAnswerBytes)
	var tooLarge *bounded.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &UpstreamError{Provider: "alipay", Reason: "Alipay " + tooLarge.Error()}
	}
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &UpstreamError{Provider: "alipay", Reason: fmt.Sprintf("HTTP %d from the gateway", resp.StatusCode)}
	}
	return c.ParseAnswer(method, body)
}

// ParseAnswer verifies and decodes a gateway answer to method: the sign is
// checked over the raw bytes of the *_response (or error_response) member,
// as they were received, before the member is decoded.
func (c *Client) ParseAnswer(method string, body []byte) (map[string]any, error) {
	if !json.Valid(body) { // not gjson.ValidBytes: it recurses without a depth limit
		return nil, &UpstreamError{Provider: "alipay", Reason: "unreadable answer: not JSON"}
	}
	member := gjson.GetBytes(body, ResponseKey(method))
	isError := false
	if !member.Exists() {
		member = gjson.GetBytes(body, "error_response")
		isError = true
	}
	if !member.IsObject() {
		return nil, &UpstreamError{Provider: "alipay", Reason: "answer has no " + ResponseKey(method)}
	}
	// Success is code 10000; alipay.system.oauth.token answers success
	// without a code.
	if code := member.Get("code"); code.Exists() && code.String() != "10000" {
		isError = true
	}
	raw := []byte(member.Raw)
	sign := gjson.GetBytes(body, "sign")
	if sign.String() == "" {
		if isError {
			// Alipay leaves some failures unsigned (an unknown app_id, a bad
			// request signature): they only say that the call failed.
			return nil, businessError(member, nil)
		}
		return nil, signatureError(signing.ErrMissingSignature, "")
	}
	if err := c.verifyAnswer(body, raw, sign.String()); err != nil {
		return nil, signatureError(err, gjson.GetBytes(body, "alipay_cert_sn").String())
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, &UpstreamError{Provider: "alipay", Reason: "unreadable answer"}
	}
	if isError {
		return nil, businessError(member, fields)
	}
	return fields, nil
}

// verifyAnswer checks sign over raw with the Alipay public key, or in
// certificate mode with the key of the certificate the answer's
// alipay_cert_sn names (every configured one when it names none).
func (c *Client) verifyAnswer(body, raw []byte, sign string) error {
	if c.Certs == nil {
		if c.AlipayPublicKey == nil {
			return errors.New("no Alipay public key to verify with")
		}
		return signing.AlipayVerify(c.AlipayPublicKey, raw, sign, signing.SignTypeRSA2)
	}
	keys, err := c.Certs.Keys(gjson.GetBytes(body, "alipay_cert_sn").String())
	if err != nil {
		return err
	}
	return verifyAny(keys, func(k *rsa.PublicKey) error {
		return signing.AlipayVerify(k, raw, sign, signing.SignTypeRSA2)
	})
}

// verifyAny is nil when verify accepts one of keys, else its first error.
func verifyAny(keys []*rsa.PublicKey, verify func(*rsa.PublicKey) error) error {
	err := errors.New("no Alipay certificate to verify with")
	for i, k := range keys {
		e := verify(k)
		if e == nil {
			return nil
		}
		if i == 0 {
			err = e
		}
	}
	return err
}

func businessError(member gjson.Result, fields map[string]any) *BusinessError {
	e := &BusinessError{
		Code:    member.Get("code").String(),
		Msg:     member.Get("msg").String(),
		SubCode: member.Get("sub_code").String(),
		SubMsg:  member.Get("sub_msg").String(),
		Fields:  fields,
	}
	if e.Code == "" {
		e.Code = "UNKNOWN"
	}
	return e
}

func transportError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		return &UpstreamError{Provider: "alipay", Reason: "Alipay did not answer in time", Timeout: true}
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return &UpstreamError{Provider: "alipay", Reason: "Alipay did not answer in time", Timeout: true}
	}
	return &UpstreamError{Provider: "alipay", Reason: "Alipay unreachable"}
}

// ParsePrivateKey reads an application private key, PEM or bare base64.
// Both PKCS#8 and PKCS#1 are read; form says which one it was ("PKCS8",
// "PKCS1", or "" when the PEM type does not tell), so that a caller can
// note a key_type that names the other.
func ParsePrivateKey(pemOrBase64 string) (key *rsa.PrivateKey, form string, err error) {
	key, err = signing.ParseRSAPrivateKey(pemOrBase64)
	if err != nil {
		return nil, "", err
	}
	return key, keyForm(pemOrBase64), nil
}

// keyForm tells PKCS1 from PKCS8 by the PEM type, or for bare base64 by
// trying PKCS#8.
func keyForm(s string) string {
	switch {
	case strings.Contains(s, "BEGIN RSA PRIVATE KEY"):
		return "PKCS1"
	case strings.Contains(s, "BEGIN PRIVATE KEY"):
		return "PKCS8"
	case strings.Contains(s, "-----BEGIN"):
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return ""
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return "PKCS8"
	}
	return "PKCS1"
}
