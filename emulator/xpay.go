package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

// The virtual payment (虚拟支付, wx.requestVirtualPayment) side of WeChat: the
// /xpay/* server API for the test mini-programs of Config.WeixinXpay, with
// coin balances and orders in memory, and POST /_emulator/xpay/pay playing
// the client. Written apart from the gateway's providers/xpay on purpose.

// WeixinXpay is a test mini-program's virtual payment configuration.
type WeixinXpay struct {
	// AppID is the mini-program (one of WeixinApps).
	AppID string `json:"appid,omitempty"`
	// OfferID is the 支付应用 OfferID signData carries.
	OfferID string `json:"offer_id,omitempty"`
	// AppKey is the production AppKey (env 0), SandboxAppKey the sandbox's (env 1).
	AppKey        string `json:"app_key,omitempty"`
	SandboxAppKey string `json:"sandbox_app_key,omitempty"`
}

// WeChat's virtual payment error codes the emulator answers.
const (
	xpayBadOpenID      = 268490001 // openid错误
	xpayBadField       = 268490002 // 请求参数字段错误
	xpayBadSignature   = 268490003 // 签名错误
	xpayDuplicate      = 268490004 // 重复操作
	xpayCancelled      = 268490005 // 订单已经通过cancel_currency_pay接口退款
	xpayNotEnough      = 268490006 // 代币的退款/支付操作金额不足
	xpayNoSession      = 268490009 // 用户session_key不存在或已过期
	xpayBadLeftFee     = 268490016 // 退款的left_fee字段与实际不符
	xpayClientBadSig   = -15005    // wx.requestVirtualPayment: paySig 校验失败
	xpayCoinFen        = 10        // the emulator's price of one coin: 0.10 yuan
	maxXpayOrders      = 100000
	maxXpayPushRetries = 15 // WeChat pushes an unacknowledged event up to 15 times
)

// xpay is the virtual payment provider.
type xpay struct {
	s *Server

	mu        sync.Mutex
	balances  map[string]*xpayBalance  // appid, env, openid → coins
	orders    map[string]*xpayOrder    // appid, env, order_id → goods or coin order
	coinPays  map[string]*xpayCoinPay  // appid, env, order_id → currency_pay / present_currency / cancel order
	refunds   map[string]string        // appid, env, refund_order_id → refund_wx_order_id
	withdraws map[string]*xpayWithdraw // appid, env, withdraw_no → withdrawal
	goods     map[string]*xpayGoods    // appid, env → uploaded and published goods
	seq       int64
	// retryWait is how long an unacknowledged push waits before it is sent again (attempt counts from 1).
	retryWait func(attempt int) time.Duration
	onPush    []func(XpayPush)
	pending   sync.WaitGroup // pushes still to be attempted
}

func init() {
	registerProvider("xpay", func(s *Server) provider {
		return &xpay{
			s: s, balances: map[string]*xpayBalance{}, orders: map[string]*xpayOrder{},
			coinPays: map[string]*xpayCoinPay{}, refunds: map[string]string{}, withdraws: map[string]*xpayWithdraw{},
			goods: map[string]*xpayGoods{}, seq: 1_000_000,
			retryWait: func(attempt int) time.Duration { return time.Duration(min(attempt, 30)) * time.Second },
		}
	})
}

func (s *Server) xpay() *xpay { return s.providers["xpay"].(*xpay) }

// xpayRoute is one /xpay/* API.
type xpayRoute struct {
	// user: the call carries the user-state signature as well as pay_sig.
	user   bool
	handle func(c *xpayCall)
}

// xpayCall is one /xpay/* request, its access token, pay_sig and (for user routes) signature checked.
type xpayCall struct {
	w    http.ResponseWriter
	r    *http.Request
	app  WeixinXpay
	env  int
	body map[string]any
}

func (c *xpayCall) ok(fields map[string]any)  { writeJSON(c.w, http.StatusOK, okBody(fields)) }
func (c *xpayCall) fail(code int, msg string) { writeJSON(c.w, http.StatusOK, errBody(code, msg)) }
func (c *xpayCall) str(key string) string     { s, _ := c.body[key].(string); return s }

// key is the map key of a value of this app and env.
func (c *xpayCall) key(parts ...string) string {
	k := c.app.AppID + "\x00" + strconv.Itoa(c.env)
	for _, p := range parts {
		k += "\x00" + p
	}
	return k
}

// integer reads an integer field; WeChat types them strictly (a string is refused). ok is false, and the call
// answered, when the field is absent and required, or not a non-negative integer.
func (c *xpayCall) integer(field string, required bool) (int64, bool) {
	v, present := c.body[field]
	if !present {
		if required {
			c.fail(xpayBadField, field+" is required")
			return 0, false
		}
		return 0, true
	}
	num, isNum := v.(json.Number)
	n, err := strconv.ParseInt(string(num), 10, 64)
	if !isNum || err != nil || n < 0 {
		c.fail(xpayBadField, field+" must be a non-negative integer")
		return 0, false
	}
	return n, true
}

// required answers 268490002 and returns false when one of fields is an absent or empty string.
func (c *xpayCall) required(fields ...string) bool {
	for _, f := range fields {
		if c.str(f) == "" {
			c.fail(xpayBadField, f+" is required")
			return false
		}
	}
	return true
}

func (x *xpay) table() map[string]xpayRoute {
	return map[string]xpayRoute{
		"/xpay/query_user_balance":    {user: true, handle: x.queryUserBalance},
		"/xpay/currency_pay":          {user: true, handle: x.currencyPay},
		"/xpay/cancel_currency_pay":   {user: true, handle: x.cancelCurrencyPay},
		"/xpay/present_currency":      {handle: x.presentCurrency},
		"/xpay/query_order":           {handle: x.queryOrder},
		"/xpay/notify_provide_goods":  {handle: x.notifyProvideGoods},
		"/xpay/refund_order":          {handle: x.refundOrder},
		"/xpay/download_bill":         {handle: x.downloadBill},
		"/xpay/create_withdraw_order": {handle: x.createWithdrawOrder},
		"/xpay/query_withdraw_order":  {handle: x.queryWithdrawOrder},
		"/xpay/start_upload_goods":    {handle: x.startUploadGoods},
		"/xpay/query_upload_goods":    {handle: x.queryUploadGoods},
		"/xpay/start_publish_goods":   {handle: x.startPublishGoods},
		"/xpay/query_publish_goods":   {handle: x.queryPublishGoods},
	}
}

func (x *xpay) routes() map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{}
	for path, rt := range x.table() {
		out[path] = func(w http.ResponseWriter, r *http.Request) { x.serve(path, rt, w, r) }
	}
	return out
}

func (x *xpay) hooks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{"/_emulator/xpay/pay": x.payHook, "/_emulator/xpay/bill": x.billHook,
		"/_emulator/xpay/complaint": x.complaintHook}
}

// appOf returns the virtual payment configuration of appid.
func (s *Server) xpayApp(appid string) (WeixinXpay, bool) {
	for _, a := range s.cfg.WeixinXpay {
		if a.AppID == appid {
			return a, true
		}
	}
	return WeixinXpay{}, false
}

func (a WeixinXpay) appKey(env int) string {
	if env == 1 {
		return a.SandboxAppKey
	}
	return a.AppKey
}

// xpayHMAC is WeChat's signature: lowercase hex HMAC-SHA256 keyed with the key's UTF-8 text.
func xpayHMAC(key string, msg ...[]byte) string {
	m := hmac.New(sha256.New, []byte(key))
	for _, b := range msg {
		m.Write(b)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (x *xpay) serve(path string, rt xpayRoute, w http.ResponseWriter, r *http.Request) {
	c := &xpayCall{w: w, r: r}
	if r.Method != http.MethodPost {
		c.fail(43002, "require POST method")
		return
	}
	q := r.URL.Query()
	appid, code, msg := x.s.weixin().authorize(q.Get("access_token"))
	if code != 0 {
		c.fail(code, msg)
		return
	}
	app, ok := x.s.xpayApp(appid)
	if !ok {
		c.fail(48001, "api unauthorized: virtual payment is not enabled for this mini-program")
		return
	}
	c.app = app
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		c.fail(47001, "data format error")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&c.body) != nil || c.body == nil {
		c.fail(47001, "data format error")
		return
	}
	switch env := c.body["env"]; env {
	case json.Number("0"), json.Number("1"):
		c.env = int(env.(json.Number)[0] - '0')
	default:
		c.fail(xpayBadField, "env must be 0 or 1")
		return
	}
	// pay_sig covers the uri and the exact bytes received, with the AppKey of the body's env.
	if !signing.EqualHex(q.Get("pay_sig"), xpayHMAC(app.appKey(c.env), []byte(path+"&"), raw)) {
		c.fail(xpayBadSignature, "签名错误: pay_sig")
		return
	}
	if rt.user {
		openid := c.str("openid")
		if openid == "" {
			c.fail(xpayBadOpenID, "openid错误")
			return
		}
		sess, ok := x.s.weixin().lookupSession(appid, openid)
		if !ok {
			c.fail(xpayNoSession, "用户session_key不存在或已过期")
			return
		}
		if !signing.EqualHex(q.Get("signature"), xpayHMAC(sess.sessionKey, raw)) {
			c.fail(xpayBadSignature, "签名错误: signature")
			return
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	rt.handle(c)
}

// nextID is a WeChat-looking id with prefix; x.mu is held.
func (x *xpay) nextID(prefix string) string {
	x.seq++
	return prefix + strconv.FormatInt(x.s.now().Unix(), 10) + strconv.FormatInt(x.seq, 10)
}

// validateXpay checks the virtual payment configurations.
func (s *Server) validateXpay() error {
	seen := map[string]bool{}
	offers := map[string]bool{}
	for _, a := range s.cfg.WeixinXpay {
		switch {
		case a.AppID == "" || a.OfferID == "" || a.AppKey == "" || a.SandboxAppKey == "":
			return fmt.Errorf("weixin_xpay %q needs an appid, an offer_id, an app_key and a sandbox_app_key", a.AppID)
		case seen[a.AppID]:
			return fmt.Errorf("weixin_xpay %s given twice", a.AppID)
		case offers[a.OfferID]:
			return fmt.Errorf("weixin_xpay offer_id %s given twice", a.OfferID)
		}
		if _, ok := s.cfg.WeixinApps[a.AppID]; !ok {
			return fmt.Errorf("weixin_xpay %s is not one of the weixin_app mini-programs", a.AppID)
		}
		seen[a.AppID], offers[a.OfferID] = true, true
	}
	return nil
}

// replaceXpay resolves the placeholders ({env.*}, {file.*}) of the virtual payment configurations.
func replaceXpay(repl *caddy.Replacer, apps []WeixinXpay) []WeixinXpay {
	if apps == nil {
		return nil
	}
	out := make([]WeixinXpay, len(apps))
	for i, a := range apps {
		out[i] = WeixinXpay{AppID: repl.ReplaceAll(a.AppID, ""), OfferID: repl.ReplaceAll(a.OfferID, ""),
			AppKey: repl.ReplaceAll(a.AppKey, ""), SandboxAppKey: repl.ReplaceAll(a.SandboxAppKey, "")}
	}
	return out
}
