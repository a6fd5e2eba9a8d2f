package emulator

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// aliClient is the tests' own Alipay gateway client, built on signing/
// alone: the emulator's tests do not lean on the gateway's client
// (providers/alipay), so the two sides meet only through the protocol.
type aliClient struct {
	AppID           string
	PrivateKey      *rsa.PrivateKey // the app's: signs requests
	AlipayPublicKey *rsa.PublicKey  // Alipay's: verifies answers
	Endpoint        string
	HTTP            *http.Client
}

// aliBizError is an answer whose code is not 10000.
type aliBizError struct{ Code, Msg, SubCode, SubMsg string }

func (e *aliBizError) Error() string {
	return fmt.Sprintf("alipay %s %s: %s %s", e.Code, e.Msg, e.SubCode, e.SubMsg)
}

// errAliSignature: the answer's signature does not verify.
var errAliSignature = errors.New("alipay answer: bad signature")

func isAliBiz(err error, subCode string) bool {
	var be *aliBizError
	return errors.As(err, &be) && be.SubCode == subCode
}

// form is a signed gateway request: the public parameters, extra, and
// biz_content, signed RSA2 over every parameter but sign.
func (c *aliClient) form(method string, biz []byte, extra map[string]string) (url.Values, error) {
	p := map[string]string{"app_id": c.AppID, "method": method, "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
		"timestamp": time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateTime), "version": "1.0"}
	if biz != nil {
		p["biz_content"] = string(biz)
	}
	for k, v := range extra {
		p[k] = v
	}
	sign, err := signing.AlipaySign(c.PrivateKey, []byte(signing.AlipaySignContent(p, true)), "RSA2")
	if err != nil {
		return nil, err
	}
	p["sign"] = sign
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	return form, nil
}

// OrderString is an app payment's signed order string.
func (c *aliClient) OrderString(method string, biz []byte, extra map[string]string) (string, error) {
	f, err := c.form(method, biz, extra)
	if err != nil {
		return "", err
	}
	return f.Encode(), nil
}

// Execute calls method and returns the members of its answer, verified
// over the member's bytes as sent.
func (c *aliClient) Execute(ctx context.Context, method string, biz []byte, extra map[string]string) (map[string]any, error) {
	form, err := c.form(method, biz, extra)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("answer %q: %v", body, err)
	}
	member, ok := top[strings.ReplaceAll(method, ".", "_")+"_response"]
	if !ok {
		member, ok = top["error_response"]
	}
	if !ok {
		return nil, fmt.Errorf("answer without a response member: %s", body)
	}
	var sign string
	if s, ok := top["sign"]; ok {
		if err := json.Unmarshal(s, &sign); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(member)))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, err
	}
	code, _ := fields["code"].(string)
	if sign == "" && code == "10000" {
		return nil, fmt.Errorf("unsigned success: %s", body)
	}
	if sign != "" && signing.AlipayVerify(c.AlipayPublicKey, member, sign, "RSA2") != nil {
		return nil, errAliSignature
	}
	if code != "10000" {
		str := func(k string) string { s, _ := fields[k].(string); return s }
		return nil, &aliBizError{Code: code, Msg: str("msg"), SubCode: str("sub_code"), SubMsg: str("sub_msg")}
	}
	return fields, nil
}

// aliNotice checks an Alipay notification's RSA2 signature (over its
// fields but sign and sign_type) with pub and returns its fields.
func aliNotice(t *testing.T, body []byte, pub *rsa.PublicKey) map[string]string {
	t.Helper()
	q, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("notification %q: %v", body, err)
	}
	p := map[string]string{}
	for k := range q {
		p[k] = q.Get(k)
	}
	if err := signing.AlipayVerify(pub, []byte(signing.AlipaySignContent(p, false)), p["sign"], p["sign_type"]); err != nil {
		t.Fatalf("notification signature: %v", err)
	}
	return p
}
