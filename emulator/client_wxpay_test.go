package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// v2Client is the tests' own WeChat Pay APIv2 client, built on signing/
// alone (its own XML too): the emulator's tests do not lean on the
// gateway's client (providers/wxpay).
type v2Client struct {
	AppID, MchID, Key string
	SignType          string // "" is MD5
	Endpoint          string
	HTTP, CertHTTP    *http.Client
	Sandbox           bool

	mu         sync.Mutex
	sandboxKey string
}

type v2API struct {
	Path           string
	Cert, Bill     bool
	SignType       string // the only sign_type the call takes
	noAppID, plain bool   // getsignkey: no appid; its answer is not signed
}

var (
	v2UnifiedOrder     = v2API{Path: "/pay/unifiedorder"}
	v2OrderQuery       = v2API{Path: "/pay/orderquery"}
	v2CloseOrder       = v2API{Path: "/pay/closeorder"}
	v2Refund           = v2API{Path: "/secapi/pay/refund", Cert: true}
	v2RefundQuery      = v2API{Path: "/pay/refundquery"}
	v2DownloadBill     = v2API{Path: "/pay/downloadbill", Bill: true}
	v2DownloadFundflow = v2API{Path: "/pay/downloadfundflow", Cert: true, Bill: true, SignType: signing.SignTypeHMACSHA256}
	v2GetSignKey       = v2API{Path: "/pay/getsignkey", noAppID: true, plain: true, SignType: signing.SignTypeMD5}
)

// v2BizError is a FAIL answer: return_code or result_code.
type v2BizError struct{ Code, Msg string }

func (e *v2BizError) Error() string { return "wxpay " + e.Code + ": " + e.Msg }

var errV2Signature = errors.New("wxpay answer: bad sign")

func isBiz(err error, code string) bool {
	var be *v2BizError
	return errors.As(err, &be) && be.Code == code
}

// v2XML writes a request document, every value in CDATA.
func v2XML(p map[string]string) []byte {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, p[k], k)
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// v2Fields reads a flat document with root element root.
func v2Fields(body []byte, root string) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	out := map[string]string{}
	var name string
	var text strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && t.Name.Local != root {
				return nil, fmt.Errorf("root <%s>", t.Name.Local)
			}
			if depth == 2 {
				name = t.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if depth == 2 {
				text.Write(t)
			}
		case xml.EndElement:
			if depth == 2 {
				out[name] = text.String()
			}
			depth--
		}
	}
}

func (c *v2Client) signType(api v2API) string {
	switch {
	case api.SignType != "":
		return api.SignType
	case c.SignType != "":
		return c.SignType
	}
	return signing.SignTypeMD5
}

// SignKey is the key calls are signed with: the sandbox key from
// getsignkey in the sandbox.
func (c *v2Client) SignKey(ctx context.Context) (string, error) {
	if !c.Sandbox {
		return c.Key, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sandboxKey == "" {
		f, err := c.call(ctx, v2GetSignKey, nil, c.Key)
		if err != nil {
			return "", err
		}
		c.sandboxKey = f["sandbox_signkey"]
	}
	return c.sandboxKey, nil
}

// Request is the signed request document of a call.
func (c *v2Client) Request(api v2API, params map[string]string, key, signType string) []byte {
	p := map[string]string{"mch_id": c.MchID, "nonce_str": signing.NonceStr()}
	if !api.noAppID {
		p["appid"] = c.AppID
	}
	for k, v := range params {
		p[k] = v
	}
	if signType != signing.SignTypeMD5 {
		p["sign_type"] = signType
	}
	sign, err := signing.WxpayV2Sign(p, key, signType)
	if err != nil {
		panic(err)
	}
	p["sign"] = sign
	return v2XML(p)
}

func (c *v2Client) post(ctx context.Context, api v2API, params map[string]string, key string) ([]byte, error) {
	path := api.Path
	if c.Sandbox {
		path = "/sandboxnew" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+path, bytes.NewReader(c.Request(api, params, key, c.signType(api))))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	hc := c.HTTP
	if api.Cert {
		hc = c.CertHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// check reads an answer document: FAIL answers are *v2BizError, the sign
// is checked with key.
func (c *v2Client) check(api v2API, body []byte, key string) (map[string]string, error) {
	f, err := v2Fields(body, "xml")
	if err != nil {
		return nil, fmt.Errorf("answer %q: %v", body, err)
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if f[k] != "" {
				return f[k]
			}
		}
		return ""
	}
	if f["return_code"] != "SUCCESS" {
		return nil, &v2BizError{Code: first("error_code", "err_code", "return_code"), Msg: f["return_msg"]}
	}
	if !api.plain && signing.WxpayV2VerifyType(f, key, c.signType(api)) != nil {
		return nil, errV2Signature
	}
	if f["result_code"] != "" && f["result_code"] != "SUCCESS" {
		return nil, &v2BizError{Code: first("err_code", "error_code", "result_code"), Msg: f["err_code_des"]}
	}
	return f, nil
}

func (c *v2Client) call(ctx context.Context, api v2API, params map[string]string, key string) (map[string]string, error) {
	body, err := c.post(ctx, api, params, key)
	if err != nil {
		return nil, err
	}
	return c.check(api, body, key)
}

// Call sends a call and returns its verified answer's fields.
func (c *v2Client) Call(ctx context.Context, api v2API, params map[string]string) (map[string]string, error) {
	key, err := c.SignKey(ctx)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, api, params, key)
}

// Bill downloads a bill (gunzipped); a document instead is its failure.
func (c *v2Client) Bill(ctx context.Context, api v2API, params map[string]string) ([]byte, error) {
	key, err := c.SignKey(ctx)
	if err != nil {
		return nil, err
	}
	body, err := c.post(ctx, api, params, key)
	if err != nil {
		return nil, err
	}
	if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	if bytes.HasPrefix(body, []byte("<xml>")) {
		if _, err := c.check(api, body, key); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("a document instead of the bill: %s", body)
	}
	return body, nil
}

// v2Notice checks a v2 payment notification's sign with key and returns
// its fields.
func v2Notice(t *testing.T, body []byte, key string) map[string]string {
	t.Helper()
	f, err := v2Fields(body, "xml")
	if err != nil {
		t.Fatalf("notification %q: %v", body, err)
	}
	st := f["sign_type"]
	if st == "" {
		st = signing.SignTypeMD5
	}
	if err := signing.WxpayV2VerifyType(f, key, st); err != nil {
		t.Fatalf("notification sign: %v", err)
	}
	return f
}

// v2RefundNotice decrypts a v2 refund notification's req_info with key
// and returns its fields.
func v2RefundNotice(t *testing.T, body []byte, key string) map[string]string {
	t.Helper()
	f, err := v2Fields(body, "xml")
	if err != nil || f["return_code"] != "SUCCESS" {
		t.Fatalf("refund notification %q: %v", body, err)
	}
	plain, err := signing.DecryptWxpayRefundReqInfo(f["req_info"], key)
	if err != nil {
		t.Fatalf("req_info: %v", err)
	}
	info, err := v2Fields(plain, "root")
	if err != nil {
		t.Fatalf("req_info %q: %v", plain, err)
	}
	return info
}
