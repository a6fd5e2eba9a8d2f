package wxpay_test

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// wxpayFake is this package's one scripted WeChat Pay: a local
// api.mch.weixin.qq.com speaking both of its protocols. The emulator plays
// WeChat Pay for the gateway's tests; these unit tests need what it will
// not do: answers broken byte by byte, the published vectors' refunds,
// downloads held mid-flight, a platform that rotates on cue.
//
//   - v2 (XML): every request's sign is checked with the merchant's key (the
//     sign type the request names, MD5 when none); answers are what v2Answer
//     returns, signed when it says so, or whatever v2Write writes.
//     POST /pay/refundquery answers from refunds when nothing is scripted.
//   - APIv3 (JSON): every request's Authorization is checked with the
//     merchant's public key and the fake's clock; answers are signed with
//     the platform key (unless unsigned), then tamper may change them.
//     GET /v3/certificates answers certs, each encrypted with the APIv3
//     key, when no v3Answer is scripted.
//
// Every request is recorded. A request the fake cannot verify fails the
// test (through tb) and is refused as WeChat Pay refuses it.
type wxpayFake struct {
	tb  testing.TB
	srv *httptest.Server

	mu sync.Mutex

	// The merchant, as WeChat Pay knows it.
	mchID          string
	key            string // APIv2 key
	signType       string // the v2 sign type requests must use ("": any)
	merchantPub    *rsa.PublicKey
	merchantSerial string
	apiV3Key       string

	// The platform: signs APIv3 answers with platformKey under
	// platformSerial, at now() + clockOffset.
	platformKey    *rsa.PrivateKey
	platformSerial string
	now            func() time.Time
	clockOffset    time.Duration
	unsigned       bool                // APIv3 answers without signature headers
	tamper         func([]byte) []byte // changes an APIv3 answer after it was signed

	// Scripts.
	v2Answer func(path string, req map[string]string) (map[string]string, bool)
	v2Write  func(w http.ResponseWriter, r *http.Request, req map[string]string)
	v3Answer func(r *http.Request, body []byte) (int, any)
	v3Raw    func(r *http.Request) ([]byte, bool) // exact bytes, unsigned (bill files)
	certs    []fakeEntry
	refunds  map[string]map[string]string // by out_refund_no, req_info field sets
	// hold, when set, keeps every certificate download waiting until it is
	// closed; held then receives one value per download that began.
	hold, held chan struct{}

	// What it saw.
	calls     atomic.Int32 // every request
	downloads atomic.Int32 // GET /v3/certificates
	authFails atomic.Int32 // APIv3 requests whose Authorization did not verify
	requests  []fakeRequest
}

// fakeRequest is one request the fake received.
type fakeRequest struct {
	Method, Path, URI, Body string
	Fields                  map[string]string // a v2 request's fields
}

func startWxpayFake(tb testing.TB, f *wxpayFake) *wxpayFake {
	f.tb = tb
	if f.now == nil {
		f.now = time.Now
	}
	f.srv = httptest.NewServer(f)
	tb.Cleanup(f.srv.Close)
	return f
}

// newV2Fake is WeChat Pay for the v2 test merchant, requests signed with
// signType.
func newV2Fake(tb testing.TB, signType string) *wxpayFake {
	return startWxpayFake(tb, &wxpayFake{mchID: payMchID, key: payKey, signType: signType})
}

// newRefundFake is WeChat Pay holding refunds (req_info field sets) for a
// v2 merchant with key: what a refund notification's check queries.
func newRefundFake(tb testing.TB, key string, refunds ...map[string]string) *wxpayFake {
	f := &wxpayFake{key: key, refunds: map[string]map[string]string{}}
	for _, r := range refunds {
		f.refunds[r["out_refund_no"]] = r
	}
	return startWxpayFake(tb, f)
}

// newV3Fake is WeChat Pay for the APIv3 test merchant (WeChat Pay's
// published test key), answers signed by v3Platform.
func newV3Fake(tb testing.TB) *wxpayFake {
	v3TestKeys(tb)
	return startWxpayFake(tb, &wxpayFake{
		mchID: v3MchID, merchantPub: &v3Keys.merchant.PublicKey, merchantSerial: v3Serial,
		platformKey: v3Keys.platform, platformSerial: v3Platform,
	})
}

// newCertFake is WeChat Pay's /v3/certificates for the platform-key test
// merchant: it answers entries, signed by signer (nil: set platformKey
// and platformSerial yourself).
func newCertFake(tb testing.TB, signer *platformCert, entries ...fakeEntry) *wxpayFake {
	tb.Helper()
	f := &wxpayFake{
		mchID: ptMchID, merchantPub: &ptKey(tb, keyMerchant).PublicKey, merchantSerial: ptMerchantSerial,
		apiV3Key: ptAPIv3Key, certs: entries,
	}
	if signer != nil {
		f.platformSerial, f.platformKey = signer.serial, signer.key
	}
	return startWxpayFake(tb, f)
}

// v2Client is a v2 client of the fake's merchant.
func (f *wxpayFake) v2Client() *wxpay.Client {
	return &wxpay.Client{
		AppID: payAppID, MchID: payMchID, Key: payKey, SignType: f.signType,
		Endpoint: f.srv.URL, HTTP: f.srv.Client(), CertHTTP: f.srv.Client(),
	}
}

// v3Client is an APIv3 client of the fake's merchant that trusts
// v3Platform.
func (f *wxpayFake) v3Client() *wxpay.ClientV3 {
	return &wxpay.ClientV3{
		AppID: v3AppID, MchID: v3MchID, PrivateKey: v3Keys.merchant, SerialNo: v3Serial,
		PlatformKeys: wxpay.StaticPlatformKeys{v3Platform: &v3Keys.platform.PublicKey},
		Endpoint:     f.srv.URL, HTTP: f.srv.Client(),
	}
}

// verifier is a v2 notification verifier for mchID whose refund queries
// reach the fake.
func (f *wxpayFake) verifier(mchID string) *wxpay.NotifyVerifier {
	// HTTP left nil: the default client (no redirects, bounded in time).
	return &wxpay.NotifyVerifier{MchID: mchID, Key: f.key, Endpoint: f.srv.URL}
}

func (f *wxpayFake) set(fn func(f *wxpayFake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// rotate switches the platform to new certificates and a new signer.
func (f *wxpayFake) rotate(signer *platformCert, entries ...fakeEntry) {
	f.set(func(f *wxpayFake) {
		f.certs = entries
		f.platformSerial, f.platformKey = signer.serial, signer.key
	})
}

// holding makes certificate downloads wait until release is called; the
// returned channel receives one value per download that began.
func (f *wxpayFake) holding() (held <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.held = make(chan struct{}), make(chan struct{}, 64)
	var once sync.Once
	hold := f.hold
	return f.held, func() { once.Do(func() { close(hold) }) }
}

// lastReq is the last request received (zero when none).
func (f *wxpayFake) lastReq() fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return fakeRequest{}
	}
	return f.requests[len(f.requests)-1]
}

// last is the last request as "METHOD URI" and its body.
func (f *wxpayFake) last() (string, string) {
	r := f.lastReq()
	if r.Method == "" {
		return "", ""
	}
	return r.Method + " " + r.URI, r.Body
}

// requestLine is the i-th request from the end (1: the last) as
// "METHOD URI".
func (f *wxpayFake) requestLine(fromEnd int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests[len(f.requests)-fromEnd]
	return r.Method + " " + r.URI
}

func (f *wxpayFake) record(r *http.Request, body []byte, fields map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, URI: r.RequestURI, Body: string(body), Fields: fields})
}

func (f *wxpayFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if strings.HasPrefix(r.URL.Path, "/v3/") {
		f.serveV3(w, r, body)
		return
	}
	f.serveV2(w, r, body)
}

func (f *wxpayFake) serveV2(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := wxpay.ParseNotifyXML(body, "xml")
	if err != nil {
		f.tb.Errorf("%s: the request is not a v2 document: %v", r.URL.Path, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.record(r, body, req)
	signType := req["sign_type"]
	if signType == "" {
		signType = signing.SignTypeMD5
	}
	f.mu.Lock()
	key, wantType, answer, write, refunds := f.key, f.signType, f.v2Answer, f.v2Write, f.refunds
	f.mu.Unlock()
	// The sandbox's getsignkey is signed with the real key, always MD5.
	if strings.HasSuffix(r.URL.Path, "/getsignkey") {
		key, wantType = payKey, ""
	}
	if wantType != "" && signType != wantType {
		f.tb.Errorf("%s: sign_type %q, want %q", r.URL.Path, signType, wantType)
	}
	if err := signing.WxpayV2VerifyType(req, key, signType); err != nil {
		f.tb.Errorf("%s: request sign: %v", r.URL.Path, err)
		_, _ = w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}))
		return
	}
	switch {
	case write != nil:
		write(w, r, req)
	case answer != nil:
		ans, sign := answer(r.URL.Path, req)
		out := wxpay.EncodeXML(ans)
		if sign {
			out = signedV2(ans, key, signType)
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(out)
	case r.URL.Path == "/pay/refundquery" && refunds != nil:
		_, _ = w.Write(signedV2(refundQueryAnswer(req, refunds[req["out_refund_no"]]), key, signing.SignTypeMD5))
	default:
		f.tb.Errorf("%s: nothing scripted", r.URL.Path)
		_, _ = w.Write(wxpay.EncodeXML(map[string]string{"return_code": "FAIL", "return_msg": "not scripted"}))
	}
}

// signedV2 is the v2 document of a, signed with key.
func signedV2(a map[string]string, key, signType string) []byte {
	s, err := signing.WxpayV2Sign(a, key, signType)
	if err != nil {
		panic(err) // an unknown sign type: the test's own mistake
	}
	a["sign"] = s
	return wxpay.EncodeXML(a)
}

// refundQueryAnswer is /pay/refundquery's answer for refund (nil: none),
// as WeChat Pay writes it: the order's fields unindexed, the refund's with
// the suffix _0.
func refundQueryAnswer(req, refund map[string]string) map[string]string {
	a := map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_id": req["mch_id"], "appid": req["appid"], "nonce_str": "n0"}
	if refund == nil {
		a["result_code"], a["err_code"], a["err_code_des"] = "FAIL", "REFUNDNOTEXIST", "退款订单查询失败"
		return a
	}
	a["refund_count"] = "1"
	for k, v := range refund {
		switch k {
		case "out_trade_no", "transaction_id", "total_fee", "settlement_total_fee":
			a[k] = v
		case "success_time":
			a["refund_success_time_0"] = v
		case "refund_request_source":
			// not in a refundquery answer
		default:
			a[k+"_0"] = v
		}
	}
	a["cash_fee"], a["refund_fee"], a["refund_channel_0"] = refund["total_fee"], refund["refund_fee"], "ORIGINAL"
	return a
}

func (f *wxpayFake) serveV3(w http.ResponseWriter, r *http.Request, body []byte) {
	isCerts := r.Method == http.MethodGet && r.URL.Path == "/v3/certificates"
	if isCerts {
		f.downloads.Add(1)
	}
	f.mu.Lock()
	mchID, serial, pub, now := f.mchID, f.merchantSerial, f.merchantPub, f.now()
	answer, raw := f.v3Answer, f.v3Raw
	f.mu.Unlock()
	if err := checkV3Authorization(r, body, mchID, serial, pub, now); err != nil {
		f.authFails.Add(1)
		f.tb.Errorf("%s %s: %v", r.Method, r.RequestURI, err)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"SIGN_ERROR","message":"signature does not verify"}`))
		return
	}
	f.record(r, body, nil)
	if raw != nil {
		if b, ok := raw(r); ok {
			_, _ = w.Write(b)
			return
		}
	}
	status, out := http.StatusOK, []byte(nil)
	switch {
	case isCerts && answer == nil:
		out = f.certificates()
	case answer != nil:
		var ans any
		if status, ans = answer(r, body); ans != nil {
			out, _ = json.Marshal(ans)
		}
	default:
		f.tb.Errorf("%s %s: nothing scripted", r.Method, r.RequestURI)
		status, out = http.StatusNotFound, []byte(`{"code":"NOT_FOUND","message":"not scripted"}`)
	}
	f.signV3(w.Header(), out)
	f.mu.Lock()
	tamper := f.tamper
	f.mu.Unlock()
	if tamper != nil {
		out = tamper(out)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// signV3 adds the platform's signature headers for body.
func (f *wxpayFake) signV3(h http.Header, body []byte) {
	f.mu.Lock()
	key, serial, at, unsigned := f.platformKey, f.platformSerial, f.now().Add(f.clockOffset), f.unsigned
	f.mu.Unlock()
	if unsigned {
		return
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	nonce := signing.NonceStr()
	sig, err := signing.RSASHA256Sign(key, signing.WxpayV3VerifyMessage(ts, nonce, body))
	if err != nil {
		f.tb.Error(err)
	}
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Request-ID", "08F0B0A7B50610")
}

// certificates is the /v3/certificates answer: certs, each encrypted with
// the APIv3 key unless the entry brings its own ciphertext. A hold keeps it
// waiting.
func (f *wxpayFake) certificates() []byte {
	f.mu.Lock()
	entries := append([]fakeEntry(nil), f.certs...)
	apiV3Key, hold, held := f.apiV3Key, f.hold, f.held
	f.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	type enc struct {
		Algorithm      string `json:"algorithm"`
		Nonce          string `json:"nonce"`
		AssociatedData string `json:"associated_data"`
		Ciphertext     string `json:"ciphertext"`
	}
	type item struct {
		SerialNo           string `json:"serial_no"`
		EffectiveTime      string `json:"effective_time"`
		ExpireTime         string `json:"expire_time"`
		EncryptCertificate enc    `json:"encrypt_certificate"`
	}
	var data []item
	for _, e := range entries {
		it := item{SerialNo: e.serial, EffectiveTime: e.effective, ExpireTime: e.expire,
			EncryptCertificate: enc{Algorithm: "AEAD_AES_256_GCM", Nonce: e.nonce, AssociatedData: e.associatedData, Ciphertext: e.ciphertext}}
		if e.ciphertext == "" {
			it.EncryptCertificate.Nonce = signing.NonceStr()[:12]
			it.EncryptCertificate.AssociatedData = "certificate"
			ct, err := signing.EncryptAEADAES256GCM(apiV3Key, it.EncryptCertificate.AssociatedData, it.EncryptCertificate.Nonce, []byte(e.pem))
			if err != nil {
				f.tb.Error(err)
			}
			it.EncryptCertificate.Ciphertext = ct
		}
		data = append(data, it)
	}
	body, _ := json.Marshal(map[string]any{"data": data})
	return body
}

// checkV3Authorization verifies a WECHATPAY2-SHA256-RSA2048 Authorization
// header as WeChat Pay does: the merchant and its certificate serial, the
// signature over method, URI, timestamp, nonce and body with the
// merchant's public key, the timestamp within five minutes of now.
func checkV3Authorization(r *http.Request, body []byte, mchID, serial string, pub *rsa.PublicKey, now time.Time) error {
	auth, ok := parseV3Auth(r.Header.Get("Authorization"))
	if !ok {
		return fmt.Errorf("authorization scheme: %q", r.Header.Get("Authorization"))
	}
	if auth["mchid"] != mchID || auth["serial_no"] != serial {
		return fmt.Errorf("mchid %q or serial_no %q", auth["mchid"], auth["serial_no"])
	}
	msg := signing.WxpayV3Message(r.Method, r.RequestURI, auth["timestamp"], auth["nonce_str"], string(body))
	if err := rsaVerifySHA256(pub, []byte(msg), auth["signature"]); err != nil {
		return fmt.Errorf("request signature does not verify: %v", err)
	}
	ts, _ := strconv.ParseInt(auth["timestamp"], 10, 64)
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("request timestamp %s is not now", auth["timestamp"])
	}
	return nil
}
