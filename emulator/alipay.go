package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

func init() { registerProvider("alipay", newAlipay) }

// AlipayApp is a test Alipay application the emulator's gateway accepts.
// Keys may be placeholders ({file.*}); PEM or bare base64.
type AlipayApp struct {
	// AppID is the application's app_id.
	AppID string `json:"app_id,omitempty"`
	// AppPublicKey verifies the application's requests (the public half of
	// the gateway's private_key).
	AppPublicKey string `json:"app_public_key,omitempty"`
	// AlipayPrivateKey signs the emulator's answers and notifications,
	// standing in for Alipay's key: the gateway's alipay_public_key is its
	// public half. When empty, a key is generated at start and its public
	// half is served by GET /_emulator/alipay/public_key?app_id=….
	AlipayPrivateKey string `json:"alipay_private_key,omitempty"`
	// AESKey is the app's content-encryption key (base64 of 16 bytes, the
	// gateway's aes_key): the default of the phone-number hook.
	AESKey string `json:"aes_key,omitempty"`
}

// alipayEmu emulates Alipay's open platform gateway (/gateway.do) for the
// configured applications: trades kept in memory, each request's RSA2
// signature checked, each answer signed, and a hook that pays a trade and
// sends its notification.
type alipayEmu struct {
	s    *Server
	apps map[string]*aliApp

	// pki, when set, is certificate mode (Config.AlipayTestPKI); pkiErr a
	// test PKI that could not be prepared.
	pki    *aliPKI
	pkiErr error

	mu     sync.Mutex
	tokens map[string]*aliToken // auth token → its user (alipay_user.go)
	trades map[string]*aliTrade // app_id + "\x00" + out_trade_no
	byNo   map[string]*aliTrade // trade_no
	seq    int64
}

type aliApp struct {
	id     string
	appPub *rsa.PublicKey
	key    *rsa.PrivateKey
	pubPEM string
	aesKey string
	err    error // a key that could not be read: every call of the app fails
}

type aliTrade struct {
	appID, outTradeNo, tradeNo, subject, body string
	buyerID, buyerOpenID, notifyURL, status   string
	total                                     int64
	created, paid                             time.Time
	refunds                                   []*aliRefund
}

type aliRefund struct {
	outRequestNo, reason string
	amount               int64
	at                   time.Time
}

const (
	maxAlipayBody   = 1 << 20
	maxAlipayTrades = 100000
	// maxYuanFen is Alipay's largest amount, 100000000.00 yuan.
	maxYuanFen = 10_000_000_000
)

func newAlipay(s *Server) provider {
	repl := caddy.NewReplacer()
	x := &alipayEmu{s: s, apps: map[string]*aliApp{}, trades: map[string]*aliTrade{}, byNo: map[string]*aliTrade{}}
	for _, a := range s.cfg.AlipayApps {
		app := &aliApp{id: strings.TrimSpace(repl.ReplaceAll(a.AppID, ""))}
		x.apps[app.id] = app
		app.aesKey = strings.TrimSpace(repl.ReplaceAll(a.AESKey, ""))
		pub, err := signing.ParseRSAPublicKey(repl.ReplaceAll(a.AppPublicKey, ""))
		if err != nil {
			app.err = errors.New("app_public_key: " + err.Error())
			continue
		}
		app.appPub = pub
		if k := strings.TrimSpace(repl.ReplaceAll(a.AlipayPrivateKey, "")); k != "" {
			app.key, err = signing.ParseRSAPrivateKey(k)
			if err != nil {
				app.err = errors.New("alipay_private_key: " + err.Error())
				continue
			}
			if app.key.PublicKey.Equal(pub) {
				app.err = errSameAlipayKey
				continue
			}
		} else if app.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			app.err = err
			continue
		}
	}
	if dir := strings.TrimSpace(repl.ReplaceAll(s.cfg.AlipayTestPKI, "")); dir != "" {
		// Certificate mode: every app's answers are signed with the key of
		// the test PKI's Alipay certificate.
		x.pki, x.pkiErr = ensureAlipayPKI(dir, s.cfg.AlipayApps)
		for _, app := range x.apps {
			if x.pki != nil && app.err == nil {
				app.key = x.pki.alipayKey
			}
		}
	}
	for _, app := range x.apps {
		if app.key != nil {
			der, _ := x509.MarshalPKIXPublicKey(&app.key.PublicKey)
			app.pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
	}
	return x
}

// errSameAlipayKey: the configured Alipay key is the app's own. Alipay signs
// with its key, never the app's; an emulator signing with the app's key
// would hide a gateway that verifies answers with the wrong key.
var errSameAlipayKey = errors.New("alipay_private_key is the private half of app_public_key: give the emulator a distinct Alipay key pair (the gateway's alipay_public_key is its public half)")

// validateAlipay refuses a configuration whose Alipay key is an app's own.
func (s *Server) validateAlipay() error {
	if err := s.alipay().pkiErr; err != nil {
		return err
	}
	for id, app := range s.alipay().apps {
		if errors.Is(app.err, errSameAlipayKey) {
			return fmt.Errorf("alipay_app %s: %w", id, app.err)
		}
	}
	return nil
}

func (s *Server) alipay() *alipayEmu { return s.providers["alipay"].(*alipayEmu) }

// AlipayPublicKey returns the PEM public key the emulator's answers and
// notifications for appID verify with (the gateway's alipay_public_key).
// Also GET /_emulator/alipay/public_key?app_id=….
func (s *Server) AlipayPublicKey(appID string) (string, error) {
	app, ok := s.alipay().apps[appID]
	if !ok {
		return "", errors.New("emulator: no such Alipay app")
	}
	if app.err != nil {
		return "", app.err
	}
	return app.pubPEM, nil
}

func (x *alipayEmu) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{"/gateway.do": x.gateway}
}

func (x *alipayEmu) hooks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"/_emulator/alipay/pay":              x.payHook,
		"/_emulator/alipay/public_key":       x.publicKeyHook,
		"/_emulator/alipay/expire_tokens":    x.expireTokensHook,
		"/_emulator/alipay/test/phoneNumber": x.phoneNumberHook,
	}
}

// aliCall is one gateway request.
type aliCall struct {
	w      http.ResponseWriter
	app    *aliApp
	method string
	params map[string]string
	biz    map[string]any
	// wrongKey: sign the answer with a key that is not Alipay's
	// (Config.BadSignature).
	wrongKey bool
	// certSN is the answer's alipay_cert_sn (certificate mode).
	certSN string
}

// answer writes {"<method>_response": member, "sign": …}, signed over the
// exact bytes of member.
func (c *aliCall) answer(key string, member map[string]any) {
	raw, _ := json.Marshal(member)
	var b bytes.Buffer
	b.WriteString(`{"`)
	b.WriteString(key)
	b.WriteString(`":`)
	b.Write(raw)
	if c.certSN != "" {
		b.WriteString(`,"alipay_cert_sn":"` + c.certSN + `"`)
	}
	if c.app != nil && c.app.key != nil {
		key := c.app.key
		if c.wrongKey {
			key = wrongRSAKey()
		}
		if sign, err := signing.AlipaySign(key, raw, signing.SignTypeRSA2); err == nil {
			b.WriteString(`,"sign":"` + sign + `"`)
		}
	}
	b.WriteString("}")
	c.w.Header().Set("Content-Type", "text/html;charset=utf-8") // as the gateway labels its JSON
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(b.Bytes())
}

func (c *aliCall) ok(fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["code"], fields["msg"] = "10000", "Success"
	c.answer(aliResponseKey(c.method), fields)
}

// fail answers a business failure (code 40004) in the method's member.
func (c *aliCall) fail(subCode, subMsg string) {
	c.answer(aliResponseKey(c.method), map[string]any{"code": "40004", "msg": "Business Failed", "sub_code": subCode, "sub_msg": subMsg})
}

// refuse answers a refused request in error_response.
func (c *aliCall) refuse(code, msg, subCode, subMsg string) {
	c.answer("error_response", map[string]any{"code": code, "msg": msg, "sub_code": subCode, "sub_msg": subMsg})
}

func (c *aliCall) str(k string) string { return str(c.biz, k) }

func (x *alipayEmu) gateway(w http.ResponseWriter, r *http.Request) {
	c := &aliCall{w: w, wrongKey: x.s.badSignature(r)}
	if x.pki != nil {
		c.certSN = x.pki.alipaySN
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAlipayBody)
	if err := r.ParseForm(); err != nil {
		c.refuse("40002", "Invalid Arguments", "isv.invalid-parameter", "请求参数无法解析")
		return
	}
	c.params = map[string]string{}
	for k, vs := range r.Form {
		if len(vs) > 0 {
			c.params[k] = vs[0]
		}
	}
	c.method = c.params["method"]
	app, ok := x.apps[c.params["app_id"]]
	if !ok {
		c.refuse("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
		return
	}
	if app.err != nil {
		c.refuse("20000", "Service Currently Unavailable", "emulator.misconfigured", "emulator: "+app.err.Error())
		return
	}
	c.app = app
	if c.method == "" {
		c.refuse("40001", "Missing Required Arguments", "isv.missing-method", "缺少方法名参数")
		return
	}
	st := c.params["sign_type"]
	if st != signing.SignTypeRSA2 && st != signing.SignTypeRSA {
		c.refuse("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型参数")
		return
	}
	if c.params["sign"] == "" {
		c.refuse("40001", "Missing Required Arguments", "isv.missing-signature", "缺少签名参数")
		return
	}
	if x.pki != nil && !x.checkCertSNs(c) {
		return
	}
	// Requests are signed over every parameter but sign; sign_type kept.
	if err := signing.AlipayVerify(app.appPub, []byte(signing.AlipaySignContent(c.params, true)), c.params["sign"], st); err != nil {
		c.refuse("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
		return
	}
	if _, err := time.ParseInLocation(time.DateTime, c.params["timestamp"], notifyChinaTime); err != nil {
		c.refuse("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
		return
	}
	c.biz = map[string]any{}
	if bc := c.params["biz_content"]; bc != "" {
		dec := json.NewDecoder(strings.NewReader(bc))
		dec.UseNumber()
		if err := dec.Decode(&c.biz); err != nil || c.biz == nil {
			c.refuse("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content参数格式错误")
			return
		}
	}
	switch c.method {
	case aliTradeCreate:
		x.tradeCreate(c)
	case aliTradePrecreate:
		x.tradePrecreate(c)
	case aliTradeWapPay, aliTradePagePay:
		x.cashier(c, r)
	case aliTradeQuery:
		x.tradeQuery(c)
	case aliTradeClose:
		x.tradeClose(c)
	case aliTradeCancel:
		x.tradeCancel(c)
	case aliTradeRefund:
		x.tradeRefund(c)
	case aliRefundQuery:
		x.refundQuery(c)
	case aliOAuthToken:
		x.oauthToken(c)
	case aliUserInfoShare:
		x.userInfoShare(c)
	default:
		c.refuse("40004", "Business Failed", "isv.invalid-method", "不存在的方法名")
	}
}

// The gateway methods the emulator serves.
const (
	aliTradeCreate = "alipay.trade.create"
	aliTradeAppPay = "alipay.trade.app.pay"
	aliTradeQuery  = "alipay.trade.query"
	aliTradeClose  = "alipay.trade.close"
	aliTradeCancel = "alipay.trade.cancel"
	aliTradeRefund = "alipay.trade.refund"
	aliRefundQuery = "alipay.trade.fastpay.refund.query"
	aliOAuthToken  = "alipay.system.oauth.token"
)

// The trades of a QR code (a gateway call), a mobile browser and a PC page
// (URLs the payer's browser opens).
const (
	aliTradePrecreate = "alipay.trade.precreate"
	aliTradeWapPay    = "alipay.trade.wap.pay"
	aliTradePagePay   = "alipay.trade.page.pay"
)

// aliResponseKey is the answer's member for a method, as Alipay names it:
// the method with its dots as underscores, then "_response".
func aliResponseKey(method string) string {
	var b strings.Builder
	for _, part := range strings.Split(method, ".") {
		b.WriteString(part)
		b.WriteByte('_')
	}
	b.WriteString("response")
	return b.String()
}
