package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strconv"
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
}

// alipayEmu emulates Alipay's open platform gateway (/gateway.do) for the
// configured applications: trades kept in memory, each request's RSA2
// signature checked, each answer signed, and a hook that pays a trade and
// sends its notification.
type alipayEmu struct {
	s    *Server
	apps map[string]*aliApp

	mu     sync.Mutex
	trades map[string]*aliTrade // app_id + "\x00" + out_trade_no
	byNo   map[string]*aliTrade // trade_no
	seq    int64
}

type aliApp struct {
	id     string
	appPub *rsa.PublicKey
	key    *rsa.PrivateKey
	pubPEM string
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
		} else if app.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			app.err = err
			continue
		}
		der, _ := x509.MarshalPKIXPublicKey(&app.key.PublicKey)
		app.pubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return x
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
		"/_emulator/alipay/pay":        x.payHook,
		"/_emulator/alipay/public_key": x.publicKeyHook,
	}
}

// aliCall is one gateway request.
type aliCall struct {
	w      http.ResponseWriter
	app    *aliApp
	method string
	params map[string]string
	biz    map[string]any
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
	if c.app != nil && c.app.key != nil {
		if sign, err := signing.AlipaySign(c.app.key, raw, signing.SignTypeRSA2); err == nil {
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
	c := &aliCall{w: w}
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

func tradeKey(appID, outTradeNo string) string { return appID + "\x00" + outTradeNo }

// yuanParam reads an amount member in yuan ("0.01"), as fen.
func yuanParam(c *aliCall, k string) (int64, bool) {
	fen, ok := parseYuan(c.str(k))
	if !ok || fen < 1 {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: "+k)
		return 0, false
	}
	return fen, true
}

// newTrade adds a WAIT_BUYER_PAY trade from a create or app.pay
// biz_content, or returns the trade already placed with that
// out_trade_no. Call with x.mu held. On refusal it returns the sub_code.
func (x *alipayEmu) newTrade(appID string, biz map[string]any, total int64, notifyURL string) (*aliTrade, string, string) {
	otn := str(biz, "out_trade_no")
	if t := x.trades[tradeKey(appID, otn)]; t != nil {
		switch {
		case t.status == "TRADE_SUCCESS" || t.status == "TRADE_FINISHED":
			return nil, "ACQ.TRADE_HAS_SUCCESS", "交易已被支付"
		case t.status == "TRADE_CLOSED":
			return nil, "ACQ.TRADE_HAS_CLOSE", "交易已经关闭"
		case t.total != total:
			return nil, "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"
		}
		if notifyURL != "" {
			t.notifyURL = notifyURL
		}
		return t, "", ""
	}
	if len(x.trades) >= maxAlipayTrades {
		return nil, "ACQ.SYSTEM_ERROR", "emulator trade limit reached"
	}
	x.seq++
	now := x.s.now()
	t := &aliTrade{
		appID: appID, outTradeNo: otn, subject: str(biz, "subject"), body: str(biz, "body"),
		buyerID: str(biz, "buyer_id"), buyerOpenID: str(biz, "buyer_open_id"), notifyURL: notifyURL,
		status: "WAIT_BUYER_PAY", total: total, created: now,
		tradeNo: now.In(notifyChinaTime).Format("20060102") + "2200" + strconv.FormatInt(1_000_000_000+x.seq, 10) + notifyDigits(6),
	}
	x.trades[tradeKey(appID, otn)] = t
	x.byNo[t.tradeNo] = t
	return t, "", ""
}

func (x *alipayEmu) tradeCreate(c *aliCall) {
	if c.str("out_trade_no") == "" || c.str("subject") == "" {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no、subject必填")
		return
	}
	total, ok := yuanParam(c, "total_amount")
	if !ok {
		return
	}
	if c.str("buyer_id") == "" && c.str("buyer_open_id") == "" {
		c.fail("ACQ.INVALID_PARAMETER", "买家信息缺失: buyer_id或buyer_open_id必填")
		return
	}
	x.mu.Lock()
	t, code, msg := x.newTrade(c.app.id, c.biz, total, c.params["notify_url"])
	var fields map[string]any
	if t != nil {
		fields = map[string]any{"out_trade_no": t.outTradeNo, "trade_no": t.tradeNo}
	}
	x.mu.Unlock()
	if code != "" {
		c.fail(code, msg)
		return
	}
	c.ok(fields)
}

// find returns the trade a biz_content names (trade_no first). Call with
// x.mu held.
func (x *alipayEmu) find(c *aliCall) *aliTrade {
	if no := c.str("trade_no"); no != "" {
		if t := x.byNo[no]; t != nil && t.appID == c.app.id {
			return t
		}
		return nil
	}
	return x.trades[tradeKey(c.app.id, c.str("out_trade_no"))]
}

func (x *alipayEmu) findOrFail(c *aliCall) *aliTrade {
	if c.str("trade_no") == "" && c.str("out_trade_no") == "" {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no和trade_no不能同时为空")
		return nil
	}
	t := x.find(c)
	if t == nil {
		c.fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	return t
}

func (t *aliTrade) refunded() int64 {
	var n int64
	for _, r := range t.refunds {
		n += r.amount
	}
	return n
}

// buyerLogonID is the masked account trades show.
func buyerLogonID(*aliTrade) string { return "emu***@alipay.com" }

func (x *alipayEmu) tradeQuery(c *aliCall) {
	x.mu.Lock()
	t := x.findOrFail(c)
	if t == nil {
		x.mu.Unlock()
		return
	}
	fields := map[string]any{
		"trade_no": t.tradeNo, "out_trade_no": t.outTradeNo, "trade_status": t.status,
		"total_amount": yuan(t.total), "buyer_logon_id": buyerLogonID(t),
	}
	if t.buyerID != "" {
		fields["buyer_user_id"] = t.buyerID
	}
	if t.buyerOpenID != "" {
		fields["buyer_open_id"] = t.buyerOpenID
	}
	if !t.paid.IsZero() {
		paid := yuan(t.total)
		fields["receipt_amount"], fields["buyer_pay_amount"], fields["invoice_amount"], fields["point_amount"] = paid, paid, paid, "0.00"
		fields["send_pay_date"] = t.paid.In(notifyChinaTime).Format(time.DateTime)
		fields["fund_bill_list"] = []any{map[string]any{"fund_channel": "ALIPAYACCOUNT", "amount": paid}}
	}
	x.mu.Unlock()
	c.ok(fields)
}

func (x *alipayEmu) tradeClose(c *aliCall) {
	x.mu.Lock()
	t := x.findOrFail(c)
	if t == nil {
		x.mu.Unlock()
		return
	}
	if t.status != "WAIT_BUYER_PAY" {
		x.mu.Unlock()
		c.fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
		return
	}
	t.status = "TRADE_CLOSED"
	fields := map[string]any{"trade_no": t.tradeNo, "out_trade_no": t.outTradeNo}
	x.mu.Unlock()
	c.ok(fields)
}

func (x *alipayEmu) tradeCancel(c *aliCall) {
	x.mu.Lock()
	t := x.findOrFail(c)
	if t == nil {
		x.mu.Unlock()
		return
	}
	action := "close"
	switch t.status {
	case "WAIT_BUYER_PAY":
		t.status = "TRADE_CLOSED"
	case "TRADE_SUCCESS":
		action = "refund"
		if rest := t.total - t.refunded(); rest > 0 {
			t.refunds = append(t.refunds, &aliRefund{outRequestNo: t.outTradeNo, amount: rest, reason: "撤销", at: x.s.now()})
		}
		t.status = "TRADE_CLOSED"
	default:
		x.mu.Unlock()
		c.fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
		return
	}
	fields := map[string]any{"trade_no": t.tradeNo, "out_trade_no": t.outTradeNo, "retry_flag": "N", "action": action}
	x.mu.Unlock()
	c.ok(fields)
}

func (x *alipayEmu) tradeRefund(c *aliCall) {
	amount, ok := yuanParam(c, "refund_amount")
	if !ok {
		return
	}
	x.mu.Lock()
	t := x.findOrFail(c)
	if t == nil {
		x.mu.Unlock()
		return
	}
	orn := orDefault(c.str("out_request_no"), t.outTradeNo)
	var rf *aliRefund
	for _, r := range t.refunds {
		if r.outRequestNo == orn {
			rf = r // the same refund asked again: its result
		}
	}
	if rf == nil {
		switch {
		case t.status != "TRADE_SUCCESS":
			x.mu.Unlock()
			c.fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
			return
		case t.refunded()+amount > t.total:
			x.mu.Unlock()
			c.fail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
			return
		}
		rf = &aliRefund{outRequestNo: orn, amount: amount, reason: c.str("refund_reason"), at: x.s.now()}
		t.refunds = append(t.refunds, rf)
		if t.refunded() == t.total {
			t.status = "TRADE_CLOSED"
		}
	}
	total := t.refunded()
	fields := map[string]any{
		"trade_no": t.tradeNo, "out_trade_no": t.outTradeNo, "buyer_logon_id": buyerLogonID(t), "fund_change": "Y",
		"refund_fee": yuan(total), "send_back_fee": yuan(rf.amount),
		"gmt_refund_pay": rf.at.In(notifyChinaTime).Format(time.DateTime),
	}
	trade := *t
	x.mu.Unlock()
	c.ok(fields)
	if trade.notifyURL != "" {
		// Alipay tells the trade's notify_url about refunds too.
		go x.sendRefund(trade, *rf, total)
	}
}

func (x *alipayEmu) refundQuery(c *aliCall) {
	x.mu.Lock()
	t := x.findOrFail(c)
	if t == nil {
		x.mu.Unlock()
		return
	}
	orn := c.str("out_request_no")
	if orn == "" {
		x.mu.Unlock()
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: out_request_no必填")
		return
	}
	fields := map[string]any{"trade_no": t.tradeNo, "out_trade_no": t.outTradeNo, "out_request_no": orn}
	for _, r := range t.refunds {
		if r.outRequestNo == orn {
			fields["refund_reason"] = r.reason
			fields["total_amount"] = yuan(t.total)
			fields["refund_amount"] = yuan(r.amount)
			fields["refund_status"] = "REFUND_SUCCESS"
			fields["gmt_refund_pay"] = r.at.In(notifyChinaTime).Format(time.DateTime)
		}
	}
	x.mu.Unlock()
	c.ok(fields)
}

func (x *alipayEmu) oauthToken(c *aliCall) {
	code := c.params["code"]
	switch c.params["grant_type"] {
	case "authorization_code":
	case "refresh_token":
		code = c.params["refresh_token"]
	default:
		c.refuse("40002", "Invalid Arguments", "isv.grant-type-invalid", "grant_type参数不正确")
		return
	}
	if code == "" || strings.HasPrefix(code, "invalid") || strings.HasPrefix(code, "bad") {
		c.refuse("40002", "Invalid Arguments", "isv.code-invalid", "授权码code无效")
		return
	}
	// The same code gives the same user, so tests can predict it.
	user := strings.TrimPrefix(code, "refresh-")
	c.ok(map[string]any{
		"user_id":       "2088" + strconv.FormatUint(1e11+digest(c.app.id, "user", user)%9e11, 10),
		"open_id":       "074" + randomB64URLFrom(digest(c.app.id, "open", user), 44),
		"access_token":  "authusrB" + randomAlnum(32),
		"expires_in":    1296000,
		"refresh_token": "refresh-" + user,
		"re_expires_in": 2592000,
		"auth_start":    x.s.now().In(notifyChinaTime).Format(time.DateTime),
	})
}

// randomB64URLFrom is n characters of a URL-safe alphabet from a seed.
func randomB64URLFrom(seed uint64, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		seed = seed*6364136223846793005 + 1442695040888963407
		b[i] = alphabet[(seed>>33)%uint64(len(alphabet))]
	}
	return string(b)
}

// PayAlipayOrder pays a trade placed with alipay.trade.create and sends the
// signed trade notification to its notify_url, as Alipay does when the
// payer confirms. Paying a paid trade sends the notification again.
//
// Also POST /_emulator/alipay/pay?app_id=…&out_trade_no=… (or trade_no=…).
func (s *Server) PayAlipayOrder(ctx context.Context, appID, outTradeNo, tradeNo string) (*PayResult, error) {
	x := s.alipay()
	x.mu.Lock()
	var t *aliTrade
	if tradeNo != "" {
		t = x.byNo[tradeNo]
	} else if appID != "" {
		t = x.trades[tradeKey(appID, outTradeNo)]
	} else {
		for _, cand := range x.trades {
			if cand.outTradeNo == outTradeNo {
				if t != nil {
					x.mu.Unlock()
					return nil, ErrAmbiguousPay
				}
				t = cand
			}
		}
	}
	if t == nil {
		x.mu.Unlock()
		return nil, ErrNoSuchOrder
	}
	return x.pay(ctx, t)
}

// PayAlipayOrderString pays an app payment: it checks the order string of
// alipay.trade.app.pay (what getOrderInfo returns for app-plus, and what
// the Alipay SDK of a phone would submit), places its trade and pays it.
//
// Also POST /_emulator/alipay/pay with a form field order_string.
func (s *Server) PayAlipayOrderString(ctx context.Context, orderString string) (*PayResult, error) {
	x := s.alipay()
	q, err := url.ParseQuery(orderString)
	if err != nil {
		return nil, errors.New("emulator: the order string is not URL-encoded parameters")
	}
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	app, ok := x.apps[params["app_id"]]
	if !ok || app.err != nil {
		return nil, errors.New("emulator: the order string names an unknown app_id")
	}
	if params["method"] != aliTradeAppPay {
		return nil, errors.New("emulator: the order string is not an alipay.trade.app.pay request")
	}
	if err := signing.AlipayVerify(app.appPub, []byte(signing.AlipaySignContent(params, true)), params["sign"], params["sign_type"]); err != nil {
		return nil, errors.New("emulator: the order string's signature does not verify with the app public key")
	}
	var biz map[string]any
	dec := json.NewDecoder(strings.NewReader(params["biz_content"]))
	dec.UseNumber()
	if err := dec.Decode(&biz); err != nil || str(biz, "out_trade_no") == "" {
		return nil, errors.New("emulator: the order string has no readable biz_content")
	}
	total, ok := parseYuan(str(biz, "total_amount"))
	if !ok || total < 1 {
		return nil, errors.New("emulator: the order string has no valid total_amount")
	}
	x.mu.Lock()
	t, code, msg := x.newTrade(app.id, biz, total, params["notify_url"])
	if t == nil {
		x.mu.Unlock()
		return nil, errors.New("emulator: " + code + ": " + msg)
	}
	return x.pay(ctx, t)
}

// pay marks a trade paid and sends its notification. Call with x.mu held;
// it releases it.
func (x *alipayEmu) pay(ctx context.Context, t *aliTrade) (*PayResult, error) {
	if t.status == "TRADE_CLOSED" && t.paid.IsZero() {
		x.mu.Unlock()
		return nil, ErrOrderClosed
	}
	if t.status == "WAIT_BUYER_PAY" {
		t.status = "TRADE_SUCCESS"
		t.paid = x.s.now()
	}
	trade := *t
	x.mu.Unlock()
	app := x.apps[trade.appID]
	res := &PayResult{OutTradeNo: trade.outTradeNo, TransactionID: trade.tradeNo, TotalFee: trade.total, NotifyURL: trade.notifyURL}
	msg, err := AlipayTradeNotification(x.notifyOrder(trade), app.key)
	if err != nil {
		return nil, err
	}
	res.send(ctx, msg)
	return res, nil
}

func (x *alipayEmu) notifyOrder(t aliTrade) NotifyOrder {
	return NotifyOrder{
		AppID: t.appID, OutTradeNo: t.outTradeNo, TransactionID: t.tradeNo, TotalFee: t.total,
		OpenID: orDefault(t.buyerOpenID, t.buyerID), Time: t.paid,
	}
}

// sendRefund sends the notification Alipay sends after a refund, in the
// background.
func (x *alipayEmu) sendRefund(t aliTrade, rf aliRefund, refundedSoFar int64) {
	o := x.notifyOrder(t)
	o.OutRefundNo, o.RefundFee = rf.outRequestNo, refundedSoFar
	msg, err := AlipayRefundNotification(o, x.apps[t.appID].key)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = SendNotification(ctx, t.notifyURL, msg)
}

func (x *alipayEmu) payHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "GET or POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAlipayBody)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody(-1, "unreadable form"))
		return
	}
	var (
		res *PayResult
		err error
	)
	switch {
	case r.Form.Get("order_string") != "":
		res, err = x.s.PayAlipayOrderString(r.Context(), r.Form.Get("order_string"))
		if err != nil && !errors.Is(err, ErrOrderClosed) {
			writeJSON(w, http.StatusBadRequest, errBody(-1, err.Error()))
			return
		}
	case r.Form.Get("out_trade_no") != "" || r.Form.Get("trade_no") != "":
		res, err = x.s.PayAlipayOrder(r.Context(), r.Form.Get("app_id"), r.Form.Get("out_trade_no"), r.Form.Get("trade_no"))
	default:
		writeJSON(w, http.StatusBadRequest, errBody(-1, "out_trade_no, trade_no or order_string is required"))
		return
	}
	if err != nil {
		payHookError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (x *alipayEmu) publicKeyHook(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("app_id")
	if id == "" && len(x.apps) == 1 {
		for k := range x.apps {
			id = k
		}
	}
	pemKey, err := x.s.AlipayPublicKey(id)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errBody(-1, err.Error()))
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"app_id": id, "alipay_public_key": pemKey})
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write([]byte(pemKey))
}
