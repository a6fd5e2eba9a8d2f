package emulator

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

func init() { registerProvider("wxpay_v3", newWxpayV3) }

// WxpayV3Merchant is a test WeChat Pay APIv3 merchant the emulator accepts.
// Its values may be placeholders ({env.*}, {file.*}).
type WxpayV3Merchant struct {
	// MchID is the merchant id.
	MchID string `json:"mch_id,omitempty"`
	// APIv3Key (32 bytes) encrypts the platform certificates of
	// /v3/certificates and the resources of notifications.
	APIv3Key string `json:"api_v3_key,omitempty"`
	// MerchantKey is the merchant API public key, or its certificate (then
	// the serial_no of every request must be the certificate's), PEM or
	// bare base64: it verifies every request's Authorization.
	MerchantKey string `json:"merchant_key,omitempty"`
	// PublicKeyID and PlatformPrivateKey, when set, are a WeChat Pay public
	// key (public-key mode, Wechatpay-Serial PUB_KEY_ID_…) the emulator
	// signs answers and notifications with, so that a gateway can be
	// configured with its public half as a fixed platform_key. Without
	// them the emulator signs with a platform certificate it makes
	// (certificate mode), served at /v3/certificates.
	PublicKeyID        string `json:"public_key_id,omitempty"`
	PlatformPrivateKey string `json:"platform_private_key,omitempty"`
	// PlatformCertificate, with PlatformPrivateKey and no PublicKeyID, is
	// the platform certificate (PEM) the emulator signs with in
	// certificate mode instead of one it makes, so that a test chooses its
	// serial and its issuer (the gateway's platform_root). Certificates of
	// later rotations are the emulator's own. Not in the Caddyfile.
	PlatformCertificate string `json:"platform_certificate,omitempty"`
}

// Platform key modes.
const (
	wxv3ModeCertificate = "certificate"
	wxv3ModePublicKey   = "public_key"
)

// wxpayV3Emu emulates the APIv3 side of api.mch.weixin.qq.com: orders are
// the same as the v2 emulator's (one order number space per merchant), every
// request's Authorization is checked with the merchant's key, every answer
// is signed with the merchant's current platform key.
//
// Test hooks:
//
//	GET  /_emulator/wxpay/v3/platform?mchid=…   the platform keys (certificates, public key, root), PEM
//	POST /_emulator/wxpay/v3/rotate?mchid=…[&mode=certificate|public_key]
//	     a new platform key of that mode (default: the current one) signs from now on
type wxpayV3Emu struct {
	s    *Server
	once sync.Once
	root *x509.Certificate // issues the platform certificates
	rkey *ecdsa.PrivateKey

	mu        sync.Mutex
	merchants map[string]*wxv3Merchant
	v3Orders  map[string]bool // orderKey of the orders placed through APIv3
	bills     map[string][]byte
	billOrder []string
}

// wxv3Merchant is one merchant's keys. Its platform keys change with
// rotation: guarded by wxpayV3Emu.mu.
type wxv3Merchant struct {
	cfg        WxpayV3Merchant
	verify     *rsa.PublicKey
	certSerial string // the merchant certificate's serial, when a certificate was configured
	err        error  // why the configuration cannot be used

	mode  string
	certs []*wxv3Cert // oldest first; the last one signs in certificate mode
	pub   *wxv3Key    // public-key mode key
}

type wxv3Key struct {
	serial string
	key    *rsa.PrivateKey
}

type wxv3Cert struct {
	wxv3Key
	cert *x509.Certificate
	pem  string
}

func newWxpayV3(s *Server) provider {
	repl := caddy.NewReplacer()
	x := &wxpayV3Emu{s: s, merchants: map[string]*wxv3Merchant{}, v3Orders: map[string]bool{}, bills: map[string][]byte{}}
	for _, m := range s.cfg.WxpayV3Merchants {
		for _, f := range []*string{&m.MchID, &m.APIv3Key, &m.MerchantKey, &m.PublicKeyID, &m.PlatformPrivateKey, &m.PlatformCertificate} {
			*f = strings.TrimSpace(repl.ReplaceAll(*f, ""))
		}
		mm := &wxv3Merchant{cfg: m, mode: wxv3ModeCertificate}
		switch {
		case len(m.APIv3Key) != 32:
			mm.err = fmt.Errorf("api_v3_key is %d bytes, want 32", len(m.APIv3Key))
		default:
			if c, err := signing.ParseCertificate(m.MerchantKey); err == nil {
				mm.certSerial = signing.CertificateSerialNo(c)
			}
			mm.verify, mm.err = signing.ParseRSAPublicKey(m.MerchantKey)
		}
		if mm.err == nil && m.PlatformCertificate != "" {
			mm.err = configuredPlatformCert(mm)
		} else if mm.err == nil && (m.PublicKeyID != "" || m.PlatformPrivateKey != "") {
			k, err := signing.ParseRSAPrivateKey(m.PlatformPrivateKey)
			switch {
			case err != nil:
				mm.err = errors.New("platform private key: " + err.Error())
			case !strings.HasPrefix(m.PublicKeyID, "PUB_KEY_ID_"):
				mm.err = errors.New("the public key id must start with PUB_KEY_ID_")
			default:
				mm.pub = &wxv3Key{serial: m.PublicKeyID, key: k}
				mm.mode = wxv3ModePublicKey
			}
		}
		x.merchants[m.MchID] = mm
	}
	return x
}

// configuredPlatformCert makes a merchant's configured platform
// certificate its first.
func configuredPlatformCert(mm *wxv3Merchant) error {
	m := mm.cfg
	if m.PublicKeyID != "" {
		return errors.New("platform_certificate is for certificate mode: not with public_key_id")
	}
	c, err := signing.ParseCertificate(m.PlatformCertificate)
	if err != nil {
		return errors.New("platform certificate: " + err.Error())
	}
	k, err := signing.ParseRSAPrivateKey(m.PlatformPrivateKey)
	if err != nil {
		return errors.New("platform private key: " + err.Error())
	}
	if !k.PublicKey.Equal(c.PublicKey) {
		return errors.New("the platform private key is not the platform certificate's")
	}
	mm.certs = []*wxv3Cert{{
		wxv3Key: wxv3Key{serial: signing.CertificateSerialNo(c), key: k},
		cert:    c,
		pem:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
	}}
	return nil
}

func (s *Server) wxpayV3() *wxpayV3Emu { return s.providers["wxpay_v3"].(*wxpayV3Emu) }

// validateWxpayV3 reports a configured merchant that cannot be used.
func (s *Server) validateWxpayV3() error {
	x := s.wxpayV3()
	for id, m := range x.merchants {
		if id == "" {
			return errors.New("wxpay_v3_merchant: empty mch_id")
		}
		if m.err != nil {
			return fmt.Errorf("wxpay_v3_merchant %s: %v", id, m.err)
		}
	}
	return nil
}

// signer is the key a merchant's answers and notifications are signed
// with now.
func (x *wxpayV3Emu) signer(m *wxv3Merchant) (*wxv3Key, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if m.mode == wxv3ModePublicKey && m.pub != nil {
		return m.pub, nil
	}
	if err := x.ensureCert(m); err != nil {
		return nil, err
	}
	return &m.certs[len(m.certs)-1].wxv3Key, nil
}

// notifySigner is what notifications of m are signed and encrypted with.
func (x *wxpayV3Emu) notifySigner(m *wxv3Merchant) (WxpayV3NotifySigner, error) {
	k, err := x.signer(m)
	if err != nil {
		return WxpayV3NotifySigner{}, err
	}
	return WxpayV3NotifySigner{PlatformKey: k.key, Serial: k.serial, APIv3Key: m.cfg.APIv3Key}, nil
}

func (x *wxpayV3Emu) routes() map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{}
	for path, h := range map[string]func(*wxv3Call){
		"/v3/pay/transactions/jsapi":  x.prepay("jsapi"),
		"/v3/pay/transactions/app":    x.prepay("app"),
		"/v3/pay/transactions/native": x.prepay("native"),
		"/v3/pay/transactions/h5":     x.prepay("h5"),
		"/v3/refund/domestic/refunds": x.refund,
		"/v3/certificates":            x.certificates,
		"/v3/bill/tradebill":          x.tradeBill,
		"/v3/bill/fundflowbill":       x.fundflowBill,
		"/v3/billdownload/file":       x.billFile,
	} {
		out[path] = x.serve(h)
	}
	return out
}

// prefixRoutes are the calls with an id in their path.
func (x *wxpayV3Emu) prefixRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"/v3/pay/transactions/id/":           x.serve(x.queryByID),
		"/v3/pay/transactions/out-trade-no/": x.serve(x.outTradeNo),
		"/v3/refund/domestic/refunds/":       x.serve(x.queryRefund),
	}
}

func (x *wxpayV3Emu) hooks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"/_emulator/wxpay/v3/platform": x.platformHook,
		"/_emulator/wxpay/v3/rotate":   x.rotateHook,
	}
}

// wxv3Call is one authenticated APIv3 request.
type wxv3Call struct {
	x    *wxpayV3Emu
	w    http.ResponseWriter
	r    *http.Request
	m    *wxv3Merchant
	body []byte
}

// maxWxpayV3Skew is how far a request's timestamp may be from now.
const maxWxpayV3Skew = 5 * time.Minute

// parseWxpayV3Authorization reads WECHATPAY2-SHA256-RSA2048 k="v",….
func parseWxpayV3Authorization(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil, false
		}
		out[k] = v[1 : len(v)-1]
	}
	for _, k := range []string{"mchid", "nonce_str", "signature", "timestamp", "serial_no"} {
		if out[k] == "" {
			return nil, false
		}
	}
	return out, true
}

// serve authenticates a request (Authorization signed by the merchant
// over METHOD\nURI\ntimestamp\nnonce\nbody\n) before handing it to h.
func (x *wxpayV3Emu) serve(h func(*wxv3Call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWxpayBody))
		if err != nil {
			writeV3Error(w, http.StatusBadRequest, "INVALID_REQUEST", "请求过大")
			return
		}
		auth, ok := parseWxpayV3Authorization(r.Header.Get("Authorization"))
		if !ok {
			writeV3Error(w, http.StatusUnauthorized, "SIGN_ERROR", "Authorization不合法")
			return
		}
		m := x.merchants[auth["mchid"]]
		if m == nil || m.err != nil {
			writeV3Error(w, http.StatusBadRequest, "MCH_NOT_EXISTS", "商户号不存在")
			return
		}
		c := &wxv3Call{x: x, w: w, r: r, m: m, body: body}
		if m.certSerial != "" && !strings.EqualFold(auth["serial_no"], m.certSerial) {
			c.fail(http.StatusUnauthorized, "SIGN_ERROR", "商户证书序列号有误")
			return
		}
		ts, err := strconv.ParseInt(auth["timestamp"], 10, 64)
		if err != nil || x.s.now().Sub(time.Unix(ts, 0)).Abs() > maxWxpayV3Skew {
			c.fail(http.StatusUnauthorized, "SIGN_ERROR", "请求时间戳已过期")
			return
		}
		uri := r.RequestURI
		if uri == "" {
			uri = r.URL.RequestURI()
		}
		msg := signing.WxpayV3Message(r.Method, uri, auth["timestamp"], auth["nonce_str"], string(body))
		if err := verifySHA256(m.verify, []byte(msg), auth["signature"]); err != nil {
			c.fail(http.StatusUnauthorized, "SIGN_ERROR", "签名错误")
			return
		}
		h(c)
	}
}

// verifySHA256 checks a base64 SHA256withRSA (PKCS#1 v1.5) signature of a
// request message.
func verifySHA256(pub *rsa.PublicKey, msg []byte, sigBase64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigBase64)
	if err != nil {
		return signing.ErrBadSignature
	}
	sum := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// answer writes a signed JSON answer (status 204 and no body when v is
// nil).
func (c *wxv3Call) answer(status int, v any) {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			writeV3Error(c.w, http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
			return
		}
	}
	k, err := c.x.signer(c.m)
	if err != nil {
		writeV3Error(c.w, http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	if c.x.s.badSignature(c.r) {
		k = &wxv3Key{serial: k.serial, key: wrongRSAKey()}
	}
	if err := signV3Answer(c.w.Header(), k, c.x.s.now(), body); err != nil {
		writeV3Error(c.w, http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	if body != nil {
		c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	c.w.WriteHeader(status)
	c.w.Write(body)
}

// ok answers 200 with v.
func (c *wxv3Call) ok(v any) { c.answer(http.StatusOK, v) }

// fail answers a signed {"code", "message"} failure.
func (c *wxv3Call) fail(status int, code, msg string) {
	c.answer(status, map[string]any{"code": code, "message": msg})
}

// signV3Answer sets the Wechatpay-* headers of an answer signed with k.
func signV3Answer(h http.Header, k *wxv3Key, now time.Time, body []byte) error {
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := signing.NonceStr()
	sig, err := signing.RSASHA256Sign(k.key, signing.WxpayV3VerifyMessage(ts, nonce, body))
	if err != nil {
		return err
	}
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Serial", k.serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	h.Set("Request-ID", "08"+strings.ToUpper(notifyDigits(30)))
	return nil
}

// writeV3Error answers an unsigned failure (the merchant is not known, so
// no key is chosen).
func writeV3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	w.Write(b)
}

// decodeJSON reads the request body as one JSON object.
func (c *wxv3Call) decodeJSON() (map[string]any, bool) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(c.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "请求体不是JSON对象")
		return nil, false
	}
	return m, true
}

func (c *wxv3Call) method(want string) bool {
	if c.r.Method != want {
		c.fail(http.StatusMethodNotAllowed, "INVALID_REQUEST", "请使用"+want+"方法")
		return false
	}
	return true
}
