package unicloud

// Helpers of the acceptance checks of §4 (unicloud_payment wxpay | alipay),
// §4a (WeChat Pay APIv3) and §5 (unicloud_payment_notify): one Caddy with
// the offline unicloud_emulator as WeChat Pay (v2 and APIv3) and Alipay,
// the payment handlers behind recording proxies, the notification routes
// in front of a recording backend. Notifications are also built here from
// the contract's text (signatures, AEAD_AES_256_GCM), apart from the
// emulator.

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	payqaWxApp   = "wx00000000000payqa1"
	payqaMch     = "1900000pq2"
	payqaKey     = "payqa-apiv2-key-0000000000000001" // 32 characters
	payqaMch3    = "1900000pq3"
	payqaV3Key   = "payqa-apiv3-key-0000000000000001" // 32 bytes
	payqaPubID   = "PUB_KEY_ID_0119000000pq3202501010000000000000001"
	payqaAliApp  = "2021000000000pq1"
	payqaHMACKey = "payqa-upstream-secret-for-the-backend"
)

// payqaBackend is the backend behind unicloud_payment_notify: it records
// every request and answers status.
type payqaBackend struct {
	addr   string
	status atomic.Int32
	mu     sync.Mutex
	reqs   []payqaGot
}

type payqaGot struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

func newPayqaBackend(t *testing.T) *payqaBackend {
	b := &payqaBackend{}
	b.status.Store(204)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, payqaGot{r.Method, r.URL.Path, r.Header.Clone(), body})
		b.mu.Unlock()
		w.Header().Set("X-Backend-Own", "hello")
		w.WriteHeader(int(b.status.Load()))
		_, _ = io.WriteString(w, "backend-body-never-for-the-provider")
	}))
	t.Cleanup(srv.Close)
	b.addr = srv.Listener.Addr().String()
	return b
}

func (b *payqaBackend) n() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

func (b *payqaBackend) last(t *testing.T) (payqaGot, map[string]any) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("the backend received nothing")
	}
	g := b.reqs[len(b.reqs)-1]
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(g.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("the backend's body is not JSON: %v: %s", err, g.Body)
	}
	return g, m
}

// payqaV3Proxy sits between the v3 payment handler and the emulator: it
// records each request (with its headers) and, with resign set, gives the
// answer new Wechatpay-* headers signed with the platform key.
type payqaV3Proxy struct {
	url    string
	mu     sync.Mutex
	ex     []payqaV3Ex
	resign func(h http.Header, body []byte)
}

type payqaV3Ex struct {
	Method, URI string
	Header      http.Header
	Body        []byte
	Status      int
	RespBody    []byte
}

func newPayqaV3Proxy(t *testing.T, target string) *payqaV3Proxy {
	p := &payqaV3Proxy{}
	// No kept-alive connections: a reload of the Caddy that serves the
	// emulator closes idle connections, and a POST on one is not retried.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, "http://"+target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		h := resp.Header.Clone()
		p.mu.Lock()
		p.ex = append(p.ex, payqaV3Ex{r.Method, r.URL.RequestURI(), r.Header.Clone(), body, resp.StatusCode, answer})
		resign := p.resign
		p.mu.Unlock()
		if resign != nil && h.Get("Wechatpay-Signature") != "" {
			resign(h, answer)
		}
		for k, vs := range h {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *payqaV3Proxy) since(n int) []payqaV3Ex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]payqaV3Ex(nil), p.ex[n:]...)
}

func (p *payqaV3Proxy) n() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ex)
}

func (p *payqaV3Proxy) setResign(f func(h http.Header, body []byte)) {
	p.mu.Lock()
	p.resign = f
	p.mu.Unlock()
}

// payqaEnv is the running Caddy.
type payqaEnv struct {
	base, emu string
	dir       string
	logFile   string
	wx, ali   *qaProxy
	v3        *payqaV3Proxy
	backend   *payqaBackend
}

// payqaStart runs the emulator, the payment handlers (/pay/wx: v2 MD5,
// /pay/wxh: v2 HMAC-SHA256, /pay/wx3: APIv3 in public-key mode, /pay/ali:
// Alipay) and the notification routes (/notify/wx: v2 with app_id, mch_id,
// max_body 4KB and upstream_secret; /notify/wx3: APIv3 with max_skew 1m and
// no upstream_secret; /notify/ali: Alipay with upstream_secret and the
// default max_body).
func payqaStart(t *testing.T) *payqaEnv {
	t.Helper()
	payRSAKeys(t)
	dir := payV3Files(t) // apiclient_key.pem, merchant_pub_key.pem, platform_key.pem, platform_pub_key.pem
	for name, content := range map[string]string{
		"app_private_key.pem":    payKeys.appPEM,
		"app_public_key.pem":     pubPEMOf(&payKeys.app.PublicKey),
		"alipay_private_key.pem": payqaPKCS1(payKeys.ali),
		"alipay_public_key.pem":  pubPEMOf(&payKeys.ali.PublicKey),
	} {
		qaWriteFile(t, filepath.Join(dir, name), content)
	}
	t.Setenv("PAYQA_WXPAY_KEY", payqaKey)
	t.Setenv("PAYQA_V3_KEY", payqaV3Key)
	t.Setenv("PAYQA_HMAC", payqaHMACKey)
	emu, gw := freeAddr(t), freeAddr(t)
	e := &payqaEnv{base: "http://" + gw, emu: emu, dir: dir, logFile: filepath.Join(dir, "caddy.log")}
	e.wx = newQAProxy(t, emu)
	e.ali = newQAProxy(t, emu)
	e.v3 = newPayqaV3Proxy(t, emu)
	e.backend = newPayqaBackend(t)
	cf := globalOptions(filepath.Join(dir, "storage"), e.logFile) + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		wxpay_merchant %[4]s {env.PAYQA_WXPAY_KEY}
		wxpay_v3_merchant %[5]s {env.PAYQA_V3_KEY} {file.%[3]s/merchant_pub_key.pem} %[6]s {file.%[3]s/platform_key.pem}
		alipay_app %[7]s {file.%[3]s/app_public_key.pem} {file.%[3]s/alipay_private_key.pem}
	}
}

http://%[2]s {
	handle_path /pay/wx/* {
		unicloud_payment wxpay {
			app_id %[8]s
			mch_id %[4]s
			key {env.PAYQA_WXPAY_KEY}
			notify_url http://%[2]s/notify/wx
			endpoint %[9]s
		}
	}
	handle_path /pay/wxh/* {
		unicloud_payment wxpay {
			app_id %[8]s
			mch_id %[4]s
			key {env.PAYQA_WXPAY_KEY}
			sign_type HMAC-SHA256
			notify_url http://%[2]s/notify/wx
			endpoint %[9]s
		}
	}
	handle_path /pay/wx3/* {
		unicloud_payment wxpay {
			version v3
			app_id %[8]s
			mch_id %[5]s
			private_key {file.%[3]s/apiclient_key.pem}
			serial_no %[10]s
			api_v3_key {env.PAYQA_V3_KEY}
			platform_key %[6]s {file.%[3]s/platform_pub_key.pem}
			max_skew 1m
			notify_url http://%[2]s/notify/wx3
			endpoint %[11]s
		}
	}
	handle_path /pay/ali/* {
		unicloud_payment alipay {
			app_id %[7]s
			private_key {file.%[3]s/app_private_key.pem}
			key_type PKCS1
			alipay_public_key {file.%[3]s/alipay_public_key.pem}
			notify_url http://%[2]s/notify/ali
			endpoint %[12]s/gateway.do
		}
	}
	route /notify/wx {
		unicloud_payment_notify wxpay {
			app_id %[8]s
			mch_id %[4]s
			key {env.PAYQA_WXPAY_KEY}
			max_body 4KB
			upstream_secret {env.PAYQA_HMAC}
		}
		reverse_proxy %[13]s
	}
	route /notify/wx3 {
		unicloud_payment_notify wxpay {
			app_id %[8]s
			mch_id %[5]s
			api_v3_key {env.PAYQA_V3_KEY}
			platform_key %[6]s {file.%[3]s/platform_pub_key.pem}
			max_skew 1m
		}
		reverse_proxy %[13]s
	}
	route /notify/ali {
		unicloud_payment_notify alipay {
			app_id %[7]s
			alipay_public_key {file.%[3]s/alipay_public_key.pem}
			upstream_secret {env.PAYQA_HMAC}
		}
		reverse_proxy %[13]s
	}
	respond "not here" 404
}
`, emu, gw, dir, payqaMch, payqaMch3, payqaPubID, payqaAliApp, payqaWxApp, e.wx.url, payV3Serial, e.v3.url, e.ali.url, e.backend.addr)
	loadCaddy(t, cf)
	return e
}

// secrets is every secret of the configuration (keys, private key bodies).
func (e *payqaEnv) secrets() []string {
	out := []string{payqaKey, payqaV3Key, payqaHMACKey}
	for _, name := range []string{"app_private_key.pem", "alipay_private_key.pem", "apiclient_key.pem", "platform_key.pem"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, name))
		lines := strings.Split(string(b), "\n")
		if len(lines) > 3 {
			out = append(out, lines[2]) // a line of the key's body
		}
	}
	return out
}

// send posts body with headers (pairs) and returns the status, the answer
// and its headers.
func (e *payqaEnv) send(t *testing.T, path, contentType string, body []byte, header ...string) (int, string, http.Header) {
	t.Helper()
	r := testSend(t, http.MethodPost, e.base+path, headerPairs(contentType, header...), body)
	return r.Status, string(r.Body), r.Header
}

// hook calls an emulator hook and decodes its JSON answer.
func (e *payqaEnv) hook(t *testing.T, path string, form url.Values) map[string]any {
	t.Helper()
	resp, err := testClient.PostForm("http://"+e.emu+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("hook %s: %d %s", path, resp.StatusCode, raw)
	}
	return m
}

// refusals is the check of every "payment notification refused" log line.
func (e *payqaEnv) refusals(t *testing.T) []string {
	t.Helper()
	logs, _ := os.ReadFile(e.logFile)
	var out []string
	for _, line := range strings.Split(string(logs), "\n") {
		var entry struct{ Msg, Check string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "payment notification refused" {
			out = append(out, entry.Check)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Signatures and notifications, from the contract's text.

func payqaPKCS1(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// payqaV2Sign is WeChat Pay v2's sign: MD5 or HMAC-SHA256 over the sorted
// non-empty fields but sign, then &key=.
func payqaV2Sign(fields map[string]string, key, signType string) string {
	if signType != "HMAC-SHA256" {
		return qaWxpayV2Sign(fields, key)
	}
	var ks []string
	for k, v := range fields {
		if k != "sign" && k != "paySign" && v != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var b strings.Builder
	for _, k := range ks {
		b.WriteString(k + "=" + fields[k] + "&")
	}
	b.WriteString("key=" + key)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

// payqaV2XML is a signed v2 notification, fields in sorted order.
func payqaV2XML(fields map[string]string, key, signType string) []byte {
	f := map[string]string{}
	for k, v := range fields {
		f[k] = v
	}
	f["sign"] = payqaV2Sign(f, key, signType)
	var ks []string
	for k := range f {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range ks {
		b.WriteString("<" + k + "><![CDATA[" + f[k] + "]]></" + k + ">")
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// payqaV2Payment is a v2 payment result of order outTradeNo.
func payqaV2Payment(outTradeNo string) map[string]string {
	return map[string]string{
		"appid": payqaWxApp, "mch_id": payqaMch, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"result_code": "SUCCESS", "return_code": "SUCCESS", "openid": "oPayqaPayer", "is_subscribe": "N",
		"trade_type": "JSAPI", "bank_type": "CFT", "total_fee": "1234", "cash_fee": "1200", "fee_type": "CNY",
		"transaction_id": "4200000000202403040000000042", "out_trade_no": outTradeNo, "time_end": "20240304130607",
		"attach": "a&b<c>",
	}
}

// payqaV3Notify is an APIv3 notification: resource encrypted with the
// APIv3 key (AEAD_AES_256_GCM), the headers signed with the platform key
// over timestamp\nnonce\nbody\n.
func payqaV3Notify(t *testing.T, event, resourceType string, resource any, v3Key string, platform *rsa.PrivateKey, serial string, ts time.Time) ([]byte, []string) {
	t.Helper()
	plain, _ := json.Marshal(resource)
	block, err := aes.NewCipher([]byte(v3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	nonce := "payqaNonce12"
	ct := gcm.Seal(nil, []byte(nonce), plain, []byte(resourceType))
	body, _ := json.Marshal(map[string]any{
		"id": "EV-payqa-" + strconv.FormatInt(ts.UnixNano(), 36), "create_time": ts.Format(time.RFC3339),
		"resource_type": "encrypt-resource", "event_type": event, "summary": "payqa",
		"resource": map[string]string{"original_type": resourceType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": resourceType, "nonce": nonce},
	})
	return body, payqaV3Headers(t, body, platform, serial, ts)
}

func payqaV3Headers(t *testing.T, body []byte, platform *rsa.PrivateKey, serial string, ts time.Time) []string {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	nonce := payqaNonce()
	return []string{"Wechatpay-Timestamp", stamp, "Wechatpay-Nonce", nonce, "Wechatpay-Serial", serial,
		"Wechatpay-Signature", payqaRSA(t, platform, stamp+"\n"+nonce+"\n"+string(body)+"\n")}
}

func payqaRSA(t *testing.T, k *rsa.PrivateKey, msg string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func payqaNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// payqaAliForm is a signed Alipay notification body: sign over the sorted
// fields without sign and sign_type (or with sign_type, keepType).
func payqaAliForm(t *testing.T, fields map[string]string, key *rsa.PrivateKey, signType string, keepType bool) []byte {
	t.Helper()
	f := map[string]string{}
	for k, v := range fields {
		f[k] = v
	}
	f["sign_type"] = signType
	drop := []string{"sign_type"}
	if keepType {
		drop = nil
	}
	f["sign"] = qaRSASign(t, key, qaAliSignContent(f, drop...), signType)
	v := url.Values{}
	for k, val := range f {
		v.Set(k, val)
	}
	return []byte(v.Encode())
}

// payqaAliTrade is an Alipay trade notification of outTradeNo.
func payqaAliTrade(outTradeNo string) map[string]string {
	return map[string]string{
		"notify_time": "2024-03-04 13:06:08", "notify_type": "trade_status_sync", "notify_id": "ac05099524730693a8b330c5ecf72da9786",
		"app_id": payqaAliApp, "charset": "utf-8", "version": "1.0", "trade_no": "2024030422001400000000000042",
		"out_trade_no": outTradeNo, "trade_status": "TRADE_SUCCESS", "total_amount": "12.34", "receipt_amount": "12.00",
		"buyer_pay_amount": "12.00", "gmt_create": "2024-03-04 13:05:00", "gmt_payment": "2024-03-04 13:06:07",
		"buyer_open_id": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", "buyer_id": "2088102146225135", "subject": "商品 A+B=C&D%",
	}
}
