package emulator

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	v3MchID  = "1900007291"
	v3MchID2 = "1900007292"
	v3AppID  = "wxd678efh567hg6787"
	v3Key    = "emulator-apiv3-key-0123456789abc" // 32 bytes
	v3Serial = "3775B6A45ACD588826D15E583A95F5DD00000001"
)

// v3TestKeys are made once per test binary: the merchant API key, its
// certificate, and a public-key mode platform key.
var v3TestKeys struct {
	once     sync.Once
	merchant *rsa.PrivateKey
	certPEM  string // a certificate of merchant with serial v3Serial
	pubMode  *rsa.PrivateKey
	other    *rsa.PrivateKey
}

func v3Keys(t testing.TB) {
	t.Helper()
	v3TestKeys.once.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&v3TestKeys.merchant, &v3TestKeys.pubMode, &v3TestKeys.other} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		sn, _ := new(big.Int).SetString(v3Serial, 16)
		tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: v3MchID},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &v3TestKeys.merchant.PublicKey, v3TestKeys.merchant)
		if err != nil {
			panic(err)
		}
		v3TestKeys.certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	})
}

func pemPublic(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func pemPrivate(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// newV3Emulator serves an emulator with two APIv3 merchants: v3MchID
// (certificate mode, its key given as a certificate) and v3MchID2
// (public-key mode with a configured key).
func newV3Emulator(t *testing.T) (*Server, *httptest.Server) {
	v3Keys(t)
	emu := New(Config{WxpayV3Merchants: []WxpayV3Merchant{
		{MchID: v3MchID, APIv3Key: v3Key, MerchantKey: v3TestKeys.certPEM},
		{MchID: v3MchID2, APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey),
			PublicKeyID: "PUB_KEY_ID_0119000072922025010100000000000001", PlatformPrivateKey: pemPrivate(v3TestKeys.pubMode)},
	}})
	if err := emu.validateWxpayV3(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// platformKeys are a merchant's platform keys as the emulator tells them.
func platformKeys(t *testing.T, emu *Server, mchID string) map[string]*rsa.PublicKey {
	t.Helper()
	p, err := emu.WxpayV3Platform(mchID)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, c := range p.Certificates {
		pub, err := signing.ParseRSAPublicKey(c.PEM)
		if err != nil {
			t.Fatal(err)
		}
		keys[c.SerialNo] = pub
	}
	if p.PublicKey != nil {
		pub, err := signing.ParseRSAPublicKey(p.PublicKey.PEM)
		if err != nil {
			t.Fatal(err)
		}
		keys[p.PublicKey.ID] = pub
	}
	return keys
}

func newV3Client(srv *httptest.Server, mchID string, keys map[string]*rsa.PublicKey) *v3Client {
	return &v3Client{AppID: v3AppID, MchID: mchID, PrivateKey: v3TestKeys.merchant, SerialNo: v3Serial,
		PlatformKeys: keys, Endpoint: srv.URL, HTTP: srv.Client()}
}

// v3Sink receives notifications with their headers.
type v3Sink struct {
	got chan *NotifyMessage
	srv *httptest.Server
}

func newV3Sink(t *testing.T) *v3Sink {
	s := &v3Sink{got: make(chan *NotifyMessage, 16)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.got <- &NotifyMessage{Header: r.Header.Clone(), Body: b}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *v3Sink) wait(t *testing.T) *NotifyMessage {
	t.Helper()
	select {
	case m := <-s.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return nil
	}
}

func TestWxpayV3Flow(t *testing.T) {
	emu, srv := newV3Emulator(t)
	sink := newV3Sink(t)
	keys := platformKeys(t, emu, v3MchID)
	c := newV3Client(srv, v3MchID, keys)
	ctx := context.Background()

	order := map[string]any{"description": "demo", "out_trade_no": "v3-1", "notify_url": sink.srv.URL,
		"amount": map[string]any{"total": 88, "currency": "CNY"}, "payer": map[string]any{"openid": "oV3User"}}
	ans, err := c.Prepay(ctx, "mp-weixin", order)
	if err != nil {
		t.Fatal(err)
	}
	prepay, _ := ans["prepay_id"].(string)
	if !strings.HasPrefix(prepay, "wx") {
		t.Fatalf("prepay answer %v", ans)
	}
	// The same order again: the same prepay_id.
	if again, err := c.Prepay(ctx, "mp-weixin", order); err != nil || again["prepay_id"] != prepay {
		t.Errorf("order placed again: %v %v", again, err)
	}
	q, err := c.QueryOrder(ctx, "", "v3-1")
	if err != nil || q["trade_state"] != "NOTPAY" {
		t.Fatalf("before paying: %v %v", q, err)
	}

	res, err := emu.PayWxpayOrder(ctx, v3MchID, "v3-1")
	if err != nil || res.NotifyStatus != http.StatusNoContent {
		t.Fatalf("pay: %+v %v", res, err)
	}
	if pay := v3Notice(t, sink.wait(t), keys, v3Key); pay["event_type"] != "TRANSACTION.SUCCESS" || pay["out_trade_no"] != "v3-1" ||
		jsonInt(at(pay, "amount", "total")) != 88 || at(pay, "payer", "openid") != "oV3User" || pay["transaction_id"] != res.TransactionID ||
		pay["trade_state"] != "SUCCESS" || pay["mchid"] != v3MchID || pay["appid"] != v3AppID {
		t.Errorf("notification %v", pay)
	}
	q, err = c.QueryOrder(ctx, res.TransactionID, "")
	if err != nil || q["trade_state"] != "SUCCESS" || q["out_trade_no"] != "v3-1" {
		t.Fatalf("after paying, by id: %v %v", q, err)
	}
	if jsonInt(at(q, "amount", "total")) != 88 || jsonInt(at(q, "amount", "payer_total")) != 88 || at(q, "payer", "openid") != "oV3User" {
		t.Errorf("order answer %v", q)
	}
	if st, _ := q["success_time"].(string); !strings.HasSuffix(st, "+08:00") {
		t.Errorf("success_time %q", q["success_time"])
	}

	r, err := c.Refund(ctx, map[string]any{"out_trade_no": "v3-1", "out_refund_no": "v3-r1", "notify_url": sink.srv.URL,
		"amount": map[string]any{"refund": 30, "total": 88, "currency": "CNY"}})
	if err != nil {
		t.Fatal(err)
	}
	if jsonInt(at(r, "amount", "refund")) != 30 || r["status"] != "SUCCESS" || r["refund_id"] == nil || r["refund_id"] == "" {
		t.Errorf("refund %v", r)
	}
	if rf := v3Notice(t, sink.wait(t), keys, v3Key); rf["event_type"] != "REFUND.SUCCESS" || jsonInt(at(rf, "amount", "refund")) != 30 ||
		rf["out_refund_no"] != "v3-r1" || rf["refund_id"] != r["refund_id"] {
		t.Errorf("refund notification %v", rf)
	}
	_, err = c.Refund(ctx, map[string]any{"out_trade_no": "v3-1", "out_refund_no": "v3-r2",
		"amount": map[string]any{"refund": 59, "total": 88, "currency": "CNY"}})
	if !isV3Biz(err, "NOT_ENOUGH") {
		t.Errorf("refund over the total: %v", err)
	}
	rq, err := c.QueryRefund(ctx, "v3-r1")
	if err != nil {
		t.Fatal(err)
	}
	if jsonInt(at(rq, "amount", "refund")) != 30 || jsonInt(at(rq, "amount", "total")) != 88 || rq["out_refund_no"] != "v3-r1" {
		t.Errorf("refund query %v", rq)
	}
	if _, err := c.QueryRefund(ctx, "v3-none"); !isV3Biz(err, "RESOURCE_NOT_EXISTS") {
		t.Errorf("unknown refund: %v", err)
	}

	day := emu.now().In(notifyChinaTime).Format("2006-01-02")
	bill, err := c.TradeBill(ctx, day, "ALL", "")
	if err != nil || !strings.Contains(string(bill), "`v3-1,") || !strings.Contains(string(bill), "`v3-r1,") {
		t.Errorf("trade bill: %v\n%s", err, bill)
	}
	bill, err = c.TradeBill(ctx, day, "SUCCESS", "GZIP")
	if err != nil || !strings.Contains(string(bill), "`v3-1,") {
		t.Errorf("trade bill (gzip): %v\n%s", err, bill)
	}
	flow, err := c.FundflowBill(ctx, day, "BASIC", "")
	if err != nil || !strings.Contains(string(flow), "`v3-1") {
		t.Errorf("fund-flow bill: %v\n%s", err, flow)
	}
	if _, err := c.TradeBill(ctx, "2001-01-01", "ALL", ""); !isV3Biz(err, "NO_STATEMENT_EXIST") {
		t.Errorf("no bill: %v", err)
	}

	if err := c.CloseOrder(ctx, "v3-1"); !isV3Biz(err, "ORDERPAID") {
		t.Errorf("closing a paid order: %v", err)
	}
	order["out_trade_no"] = "v3-2"
	if _, err := c.Prepay(ctx, "native", order); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseOrder(ctx, "v3-2"); err != nil {
		t.Fatal(err)
	}
	if q, err := c.QueryOrder(ctx, "", "v3-2"); err != nil || q["trade_state"] != "CLOSED" {
		t.Errorf("closed: %v %v", q, err)
	}
	if _, err := c.Prepay(ctx, "native", order); !isV3Biz(err, "ORDER_CLOSED") {
		t.Errorf("closed order placed again: %v", err)
	}
	if _, err := emu.PayWxpayOrder(ctx, v3MchID, "v3-2"); !errors.Is(err, ErrOrderClosed) {
		t.Errorf("paying a closed order: %v", err)
	}
	if _, err := c.QueryOrder(ctx, "", "v3-none"); !isV3Biz(err, "ORDER_NOT_EXIST") {
		t.Errorf("unknown order: %v", err)
	}

	for _, ct := range []string{"app-plus", "native", "h5"} {
		o := map[string]any{"description": "demo", "out_trade_no": "v3-" + ct, "notify_url": sink.srv.URL,
			"amount": map[string]any{"total": 1}, "scene_info": map[string]any{"payer_client_ip": "1.2.3.4", "h5_info": map[string]any{"type": "Wap"}}}
		a, err := c.Prepay(ctx, ct, o)
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		if want := map[string]string{"app-plus": "prepay_id", "native": "code_url", "h5": "h5_url"}[ct]; a[want] == nil || a[want] == "" {
			t.Errorf("%s: no %s in %v", ct, want, a)
		}
	}
	if _, err := c.Prepay(ctx, "h5", map[string]any{"description": "demo", "out_trade_no": "v3-h5b", "notify_url": sink.srv.URL,
		"amount": map[string]any{"total": 1}}); !isV3Biz(err, "PARAM_ERROR") {
		t.Errorf("h5 without scene_info: %v", err)
	}
}

func TestWxpayV3RequestChecks(t *testing.T) {
	emu, srv := newV3Emulator(t)
	keys := platformKeys(t, emu, v3MchID)
	ctx := context.Background()
	for name, mod := range map[string]func(*v3Client){
		"another private key": func(c *v3Client) { c.PrivateKey = v3TestKeys.other },
		"another serial_no":   func(c *v3Client) { c.SerialNo = "00FF" },
		"stale timestamp":     func(c *v3Client) { c.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } },
	} {
		c := newV3Client(srv, v3MchID, keys)
		mod(c)
		if _, err := c.QueryOrder(ctx, "", "x"); !isV3Biz(err, "SIGN_ERROR") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The merchant given as a public key: any serial_no.
	c := newV3Client(srv, v3MchID2, platformKeys(t, emu, v3MchID2))
	c.SerialNo = "ANY"
	if _, err := c.QueryOrder(ctx, "", "x"); !isV3Biz(err, "ORDER_NOT_EXIST") {
		t.Errorf("public-key merchant: %v", err)
	}
	// Unknown merchant: an unsigned refusal.
	c = newV3Client(srv, "1999999999", keys)
	if _, err := c.QueryOrder(ctx, "", "x"); !isV3Biz(err, "MCH_NOT_EXISTS") {
		t.Errorf("unknown merchant: %v", err)
	}
	// No Authorization at all.
	resp, err := http.Get(srv.URL + "/v3/pay/transactions/out-trade-no/x?mchid=" + v3MchID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no Authorization: %d", resp.StatusCode)
	}
	// A mchid in the body that is not the caller's.
	c = newV3Client(srv, v3MchID, keys)
	if _, err := c.DoJSON(ctx, http.MethodPost, "/v3/pay/transactions/native", map[string]any{"appid": v3AppID, "mchid": v3MchID2,
		"description": "d", "out_trade_no": "o", "notify_url": "http://n", "amount": map[string]any{"total": 1}}); !isV3Biz(err, "PARAM_ERROR") {
		t.Errorf("mchid mismatch: %v", err)
	}
}

func TestWxpayV3CertificatesAndRotation(t *testing.T) {
	emu, srv := newV3Emulator(t)
	ctx := context.Background()
	before := platformKeys(t, emu, v3MchID)
	p, err := emu.WxpayV3Platform(v3MchID)
	if err != nil || p.Mode != "certificate" || len(p.Certificates) != 1 || p.Serial != p.Certificates[0].SerialNo {
		t.Fatalf("platform: %+v %v", p, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(p.Root)) {
		t.Fatal("no root")
	}

	// /v3/certificates: each certificate decrypts with the APIv3 key,
	// chains to the root, and the answer verifies with one of them.
	c := newV3Client(srv, v3MchID, before)
	download := func() (map[string]*x509.Certificate, string) {
		t.Helper()
		resp, err := c.Do(ctx, http.MethodGet, "/v3/certificates", nil)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Data []struct {
				SerialNo string `json:"serial_no"`
				Enc      struct {
					Algorithm      string `json:"algorithm"`
					Nonce          string `json:"nonce"`
					AssociatedData string `json:"associated_data"`
					Ciphertext     string `json:"ciphertext"`
				} `json:"encrypt_certificate"`
			} `json:"data"`
		}
		if err := json.Unmarshal(resp.Body, &ans); err != nil {
			t.Fatal(err)
		}
		out := map[string]*x509.Certificate{}
		for _, d := range ans.Data {
			plain, err := signing.DecryptAEADAES256GCM(v3Key, d.Enc.AssociatedData, d.Enc.Nonce, d.Enc.Ciphertext)
			if err != nil || d.Enc.Algorithm != "AEAD_AES_256_GCM" {
				t.Fatalf("certificate %s: %v", d.SerialNo, err)
			}
			cert, err := signing.ParseCertificate(string(plain))
			if err != nil || signing.CertificateSerialNo(cert) != d.SerialNo {
				t.Fatalf("certificate %s: %v", d.SerialNo, err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("certificate %s does not chain to the root: %v", d.SerialNo, err)
			}
			out[d.SerialNo] = cert
		}
		return out, resp.Header.Get("Wechatpay-Serial")
	}
	certs, signedBy := download()
	if len(certs) != 1 || certs[signedBy] == nil {
		t.Fatalf("download: %v signed by %s", certs, signedBy)
	}

	// Rotation: a new certificate signs; the old one stays listed.
	p2, err := emu.RotateWxpayV3(v3MchID, "")
	if err != nil || len(p2.Certificates) != 2 || p2.Serial == p.Serial || p2.Serial != p2.Certificates[1].SerialNo {
		t.Fatalf("rotate: %+v %v", p2, err)
	}
	if _, err := c.QueryOrder(ctx, "", "x"); !errors.Is(err, errV3UnknownSerial) {
		t.Errorf("answer signed with the new key, old keys only: %v", err)
	}
	c.PlatformKeys = platformKeys(t, emu, v3MchID)
	certs, signedBy = download()
	if len(certs) != 2 || signedBy != p2.Serial {
		t.Errorf("download after rotation: %d certificates, signed by %s", len(certs), signedBy)
	}
	if _, err := c.QueryOrder(ctx, "", "x"); !isV3Biz(err, "ORDER_NOT_EXIST") {
		t.Errorf("with the new key: %v", err)
	}

	// Public-key mode, side by side with the certificates.
	p3, err := emu.RotateWxpayV3(v3MchID, "public_key")
	if err != nil || p3.Mode != "public_key" || p3.PublicKey == nil || !strings.HasPrefix(p3.Serial, "PUB_KEY_ID_") || p3.Serial != p3.PublicKey.ID {
		t.Fatalf("public key mode: %+v %v", p3, err)
	}
	if _, err := c.QueryOrder(ctx, "", "x"); !errors.Is(err, errV3UnknownSerial) {
		t.Errorf("public key not known yet: %v", err)
	}
	c.PlatformKeys = platformKeys(t, emu, v3MchID)
	if _, err := c.QueryOrder(ctx, "", "x"); !isV3Biz(err, "ORDER_NOT_EXIST") {
		t.Errorf("with the public key: %v", err)
	}
	// /v3/certificates is still signed by a certificate.
	if _, signedBy = download(); signedBy != p2.Serial {
		t.Errorf("certificates signed by %s in public-key mode", signedBy)
	}
	if _, err := emu.RotateWxpayV3(v3MchID, "certificate"); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.RotateWxpayV3(v3MchID, "other"); err == nil {
		t.Error("mode other accepted")
	}
	if _, err := emu.RotateWxpayV3("1999999999", ""); !errors.Is(err, ErrNoSuchMerchant) {
		t.Errorf("unknown merchant: %v", err)
	}

	// The configured public-key mode merchant signs with its PUB_KEY_ID.
	c2 := newV3Client(srv, v3MchID2, map[string]*rsa.PublicKey{"PUB_KEY_ID_0119000072922025010100000000000001": &v3TestKeys.pubMode.PublicKey})
	if _, err := c2.QueryOrder(ctx, "", "x"); !isV3Biz(err, "ORDER_NOT_EXIST") {
		t.Errorf("configured public key: %v", err)
	}
}

func TestWxpayV3Hooks(t *testing.T) {
	_, srv := newV3Emulator(t)
	get := func(method, path string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, m := get(http.MethodGet, "/_emulator/wxpay/v3/platform?mchid="+v3MchID)
	if status != 200 || m["mode"] != "certificate" || !strings.Contains(m["root"].(string), "BEGIN CERTIFICATE") {
		t.Errorf("platform hook: %d %v", status, m)
	}
	first := m["serial"]
	status, m = get(http.MethodPost, "/_emulator/wxpay/v3/rotate?mchid="+v3MchID)
	if status != 200 || m["serial"] == first {
		t.Errorf("rotate hook: %d %v", status, m)
	}
	status, m = get(http.MethodPost, "/_emulator/wxpay/v3/rotate?mchid="+v3MchID+"&mode=public_key")
	if status != 200 || m["mode"] != "public_key" || m["public_key"] == nil {
		t.Errorf("rotate hook, public key: %d %v", status, m)
	}
	if status, _ = get(http.MethodGet, "/_emulator/wxpay/v3/rotate?mchid="+v3MchID); status != http.StatusMethodNotAllowed {
		t.Errorf("rotate with GET: %d", status)
	}
	if status, _ = get(http.MethodGet, "/_emulator/wxpay/v3/platform?mchid=1"); status != http.StatusNotFound {
		t.Errorf("unknown merchant: %d", status)
	}
}

func TestWxpayV3BadConfig(t *testing.T) {
	v3Keys(t)
	for _, m := range []WxpayV3Merchant{
		{MchID: "1", APIv3Key: "short", MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey)},
		{MchID: "1", APIv3Key: v3Key, MerchantKey: "not a key"},
		{MchID: "1", APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey), PublicKeyID: "KEY1", PlatformPrivateKey: pemPrivate(v3TestKeys.pubMode)},
		{MchID: "1", APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey), PublicKeyID: "PUB_KEY_ID_1", PlatformPrivateKey: "nope"},
		{MchID: "", APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.merchant.PublicKey)},
	} {
		emu := New(Config{WxpayV3Merchants: []WxpayV3Merchant{m}})
		err := emu.validateWxpayV3()
		if err == nil {
			t.Errorf("%+v accepted", m)
			continue
		}
		if strings.Contains(err.Error(), v3Key) || strings.Contains(err.Error(), "-----BEGIN") {
			t.Errorf("a secret in the error: %v", err)
		}
	}
}

// A configured platform certificate signs in certificate mode; it must
// come with its own private key, and not with a public key id.
func TestWxpayV3ConfiguredPlatformCertificate(t *testing.T) {
	v3Keys(t)
	base := WxpayV3Merchant{MchID: v3MchID, APIv3Key: v3Key, MerchantKey: pemPublic(&v3TestKeys.other.PublicKey),
		PlatformCertificate: v3TestKeys.certPEM, PlatformPrivateKey: pemPrivate(v3TestKeys.merchant)}
	emu := New(Config{WxpayV3Merchants: []WxpayV3Merchant{base}})
	if err := emu.validateWxpayV3(); err != nil {
		t.Fatal(err)
	}
	p, err := emu.WxpayV3Platform(v3MchID)
	if err != nil || p.Mode != "certificate" || p.Serial != v3Serial || len(p.Certificates) != 1 || p.Certificates[0].PEM != v3TestKeys.certPEM {
		t.Fatalf("platform %+v, %v", p, err)
	}
	wrongKey, withID := base, base
	wrongKey.PlatformPrivateKey = pemPrivate(v3TestKeys.pubMode)
	withID.PublicKeyID = "PUB_KEY_ID_0119000072922025010100000000000001"
	for name, m := range map[string]WxpayV3Merchant{"another key": wrongKey, "with a public key id": withID} {
		if err := New(Config{WxpayV3Merchants: []WxpayV3Merchant{m}}).validateWxpayV3(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
