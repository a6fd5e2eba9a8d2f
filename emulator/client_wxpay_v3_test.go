package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// v3Client is the tests' own WeChat Pay APIv3 client, built on signing/
// alone: the emulator's tests do not lean on the gateway's client
// (providers/wxpay).
type v3Client struct {
	AppID, MchID string
	PrivateKey   *rsa.PrivateKey
	SerialNo     string
	// PlatformKeys verify answers, by Wechatpay-Serial.
	PlatformKeys map[string]*rsa.PublicKey
	Endpoint     string
	HTTP         *http.Client
	// Now is the clock of the requests' timestamps (default time.Now).
	Now func() time.Time
}

// v3Answer is a verified answer.
type v3Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// v3BizError is a 4xx/5xx answer's {"code","message"}.
type v3BizError struct {
	Status        int
	Code, Message string
}

func (e *v3BizError) Error() string {
	return fmt.Sprintf("wxpay v3 %d %s: %s", e.Status, e.Code, e.Message)
}

var (
	errV3Signature     = errors.New("wxpay v3 answer: bad signature")
	errV3UnknownSerial = errors.New("wxpay v3 answer: signed by an unknown platform key")
)

func isV3Biz(err error, code string) bool {
	var be *v3BizError
	return errors.As(err, &be) && be.Code == code
}

// Do sends a signed request (body marshalled as JSON when not nil) and
// verifies the answer's signature; a refusal is a *v3BizError.
func (c *v3Client) Do(ctx context.Context, method, uri string, body any) (*v3Answer, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	// uri is a path (and query) under Endpoint, or a whole URL (a bill's
	// download_url); the signature covers its path and query.
	target, signed := c.Endpoint+uri, uri
	if u, err := url.Parse(uri); err == nil && u.IsAbs() {
		target, signed = uri, u.RequestURI()
	}
	auth, err := signing.WxpayV3Authorization(c.MchID, c.SerialNo, c.PrivateKey, method, signed, string(payload),
		strconv.FormatInt(now().Unix(), 10), signing.NonceStr())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	a := &v3Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
	file := strings.HasPrefix(req.URL.Path, "/v3/billdownload/") && resp.StatusCode < 300 // unsigned: its SHA1 was signed
	if !file && (resp.Header.Get("Wechatpay-Signature") != "" || resp.StatusCode < 300) {
		pub := c.PlatformKeys[resp.Header.Get("Wechatpay-Serial")]
		if pub == nil {
			return nil, errV3UnknownSerial
		}
		if signing.WxpayV3Verify(pub, resp.Header.Get("Wechatpay-Timestamp"), resp.Header.Get("Wechatpay-Nonce"), b, resp.Header.Get("Wechatpay-Signature")) != nil {
			return nil, errV3Signature
		}
	}
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(b, &e)
		return nil, &v3BizError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	return a, nil
}

// DoJSON is Do with the answer decoded (numbers as json.Number).
func (c *v3Client) DoJSON(ctx context.Context, method, uri string, body any) (map[string]any, error) {
	a, err := c.Do(ctx, method, uri, body)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if len(a.Body) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("answer %q: %v", a.Body, err)
	}
	return out, nil
}

// v3PrepayPaths are the order placing calls by client type.
var v3PrepayPaths = map[string]string{"mp-weixin": "jsapi", "app-plus": "app", "native": "native", "h5": "h5"}

func (c *v3Client) Prepay(ctx context.Context, clientType string, order map[string]any) (map[string]any, error) {
	body := map[string]any{"appid": c.AppID, "mchid": c.MchID}
	for k, v := range order {
		body[k] = v
	}
	return c.DoJSON(ctx, http.MethodPost, "/v3/pay/transactions/"+v3PrepayPaths[clientType], body)
}

func (c *v3Client) QueryOrder(ctx context.Context, transactionID, outTradeNo string) (map[string]any, error) {
	if transactionID != "" {
		return c.DoJSON(ctx, http.MethodGet, "/v3/pay/transactions/id/"+url.PathEscape(transactionID)+"?mchid="+c.MchID, nil)
	}
	return c.DoJSON(ctx, http.MethodGet, "/v3/pay/transactions/out-trade-no/"+url.PathEscape(outTradeNo)+"?mchid="+c.MchID, nil)
}

func (c *v3Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	_, err := c.Do(ctx, http.MethodPost, "/v3/pay/transactions/out-trade-no/"+url.PathEscape(outTradeNo)+"/close", map[string]any{"mchid": c.MchID})
	return err
}

func (c *v3Client) Refund(ctx context.Context, refund map[string]any) (map[string]any, error) {
	return c.DoJSON(ctx, http.MethodPost, "/v3/refund/domestic/refunds", refund)
}

func (c *v3Client) QueryRefund(ctx context.Context, outRefundNo string) (map[string]any, error) {
	return c.DoJSON(ctx, http.MethodGet, "/v3/refund/domestic/refunds/"+url.PathEscape(outRefundNo), nil)
}

// bill asks for a bill, downloads it, checks its SHA1 and gunzips it.
func (c *v3Client) bill(ctx context.Context, uri string) ([]byte, error) {
	a, err := c.DoJSON(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	dl, _ := a["download_url"].(string)
	file, err := c.Do(ctx, http.MethodGet, dl, nil)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(file.Body)
	if a["hash_type"] != "SHA1" || a["hash_value"] != hex.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("bill hash %v, file %x", a, sum)
	}
	if len(file.Body) > 2 && file.Body[0] == 0x1f && file.Body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(file.Body))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return file.Body, nil
}

func (c *v3Client) TradeBill(ctx context.Context, day, billType, tarType string) ([]byte, error) {
	q := url.Values{"bill_date": {day}, "bill_type": {billType}}
	if tarType != "" {
		q.Set("tar_type", tarType)
	}
	return c.bill(ctx, "/v3/bill/tradebill?"+q.Encode())
}

func (c *v3Client) FundflowBill(ctx context.Context, day, accountType, tarType string) ([]byte, error) {
	q := url.Values{"bill_date": {day}, "account_type": {accountType}}
	if tarType != "" {
		q.Set("tar_type", tarType)
	}
	return c.bill(ctx, "/v3/bill/fundflowbill?"+q.Encode())
}

// v3Notice checks an APIv3 notification's signature with keys and
// returns its decrypted resource.
func v3Notice(t *testing.T, m *NotifyMessage, keys map[string]*rsa.PublicKey, apiV3Key string) map[string]any {
	t.Helper()
	pub := keys[m.Header.Get("Wechatpay-Serial")]
	if pub == nil {
		t.Fatalf("notification signed by unknown serial %q", m.Header.Get("Wechatpay-Serial"))
	}
	if err := signing.WxpayV3Verify(pub, m.Header.Get("Wechatpay-Timestamp"), m.Header.Get("Wechatpay-Nonce"), m.Body, m.Header.Get("Wechatpay-Signature")); err != nil {
		t.Fatalf("notification signature: %v", err)
	}
	var env struct {
		EventType string `json:"event_type"`
		Resource  struct {
			Algorithm      string `json:"algorithm"`
			Ciphertext     string `json:"ciphertext"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(m.Body, &env); err != nil || env.Resource.Algorithm != "AEAD_AES_256_GCM" {
		t.Fatalf("notification %s: %v", m.Body, err)
	}
	plain, err := signing.DecryptAEADAES256GCM(apiV3Key, env.Resource.AssociatedData, env.Resource.Nonce, env.Resource.Ciphertext)
	if err != nil {
		t.Fatalf("resource: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	out := map[string]any{"event_type": env.EventType}
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("resource %s: %v", plain, err)
	}
	out["event_type"] = env.EventType
	return out
}

// at follows a path of object members: at(m, "amount", "total").
func at(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// jsonInt is a json.Number member as an int64 (-1 when it is not one).
func jsonInt(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}
