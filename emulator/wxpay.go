package emulator

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/signing"
)

func init() { registerProvider("wxpay", newWxpay) }

// WxpayMerchant is a test WeChat Pay merchant the emulator accepts
// (APIv2). Its key may be a placeholder ({env.*}, {file.*}). Its appids
// (APIv2 and APIv3) are the emulator's test apps: see wxpayAppBound.
type WxpayMerchant struct {
	// MchID is the merchant id.
	MchID string `json:"mch_id,omitempty"`
	// Key is the APIv2 key requests are signed with and answers and
	// notifications are signed with.
	Key string `json:"key,omitempty"`
	// RequireCert makes /secapi/pay/refund and /pay/downloadfundflow
	// require a client certificate verified by the TLS layer (Caddy's
	// client_auth, or a test server's) whose CommonName is the mch_id, as
	// WeChat Pay's merchant certificates have.
	RequireCert bool `json:"require_cert,omitempty"`
}

// wxpayEmu emulates api.mch.weixin.qq.com (APIv2) for the configured
// merchants: orders kept in memory, every request's sign checked, every
// answer signed, and a hook that pays an order and sends its notification.
type wxpayEmu struct {
	s         *Server
	merchants map[string]WxpayMerchant

	mu     sync.Mutex
	orders map[string]*wxOrder // mch_id + "\x00" + out_trade_no
	byTx   map[string]*wxOrder // transaction_id
	seq    int64
}

type wxOrder struct {
	appid, mchID, outTradeNo, transactionID string
	body, attach, notifyURL, tradeType      string
	openid, feeType, signType, prepayID     string
	sandbox                                 bool
	totalFee                                int64
	state                                   string // NOTPAY, SUCCESS, CLOSED, REFUND
	created, paid                           time.Time
	refunds                                 []*wxRefund
}

type wxRefund struct {
	outRefundNo, refundID, desc, status string
	fee                                 int64
	at                                  time.Time
}

// Bounds of the emulated WeChat Pay.
const (
	maxWxpayBody   = 1 << 20
	maxWxpayOrders = 100000
)

func newWxpay(s *Server) provider {
	repl := caddy.NewReplacer()
	x := &wxpayEmu{s: s, merchants: map[string]WxpayMerchant{}, orders: map[string]*wxOrder{}, byTx: map[string]*wxOrder{}}
	for _, m := range s.cfg.WxpayMerchants {
		m.MchID = strings.TrimSpace(repl.ReplaceAll(m.MchID, ""))
		m.Key = strings.TrimSpace(repl.ReplaceAll(m.Key, ""))
		x.merchants[m.MchID] = m
	}
	return x
}

func (s *Server) wxpay() *wxpayEmu { return s.providers["wxpay"].(*wxpayEmu) }

// wxpayRoute is one v2 call the emulator answers.
type wxpayRoute struct {
	cert   bool // needs the merchant certificate when the merchant requires it
	handle func(c *wxpayCall)
}

func (x *wxpayEmu) table() map[string]wxpayRoute {
	return map[string]wxpayRoute{
		"/pay/unifiedorder":     {handle: x.unifiedOrder},
		"/pay/orderquery":       {handle: x.orderQuery},
		"/pay/closeorder":       {handle: x.closeOrder},
		"/secapi/pay/refund":    {cert: true, handle: x.refund},
		"/pay/refundquery":      {handle: x.refundQuery},
		"/pay/downloadbill":     {handle: x.downloadBill},
		"/pay/downloadfundflow": {cert: true, handle: x.downloadFundflow},
	}
}

func (x *wxpayEmu) routes() map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{}
	for path, rt := range x.table() {
		out[path] = func(w http.ResponseWriter, r *http.Request) { x.serve(rt, false, w, r) }
		out["/sandboxnew"+path] = func(w http.ResponseWriter, r *http.Request) { x.serve(rt, true, w, r) }
	}
	out["/sandboxnew/pay/getsignkey"] = x.getSignKey
	return out
}

func (x *wxpayEmu) hooks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{"/_emulator/wxpay/pay": x.payHook}
}

// sandboxKey is the sign key of a merchant's sandbox: stable, derived from
// its key.
func sandboxKey(key string) string {
	sum := md5.Sum([]byte("sandboxnew\x00" + key))
	return hex.EncodeToString(sum[:])
}

// wxpayCall is one request to an emulated v2 call.
type wxpayCall struct {
	x        *wxpayEmu
	w        http.ResponseWriter
	r        *http.Request
	merchant WxpayMerchant
	key      string // merchant key, or the sandbox key
	signType string
	sandbox  bool
	req      map[string]string
}

// fail answers return_code FAIL, unsigned, as WeChat Pay does for a request
// it refuses.
func (c *wxpayCall) fail(msg string) {
	writeXML(c.w, map[string]string{"return_code": "FAIL", "return_msg": msg})
}

// ok answers a signed success with fields.
func (c *wxpayCall) ok(fields map[string]string) { c.answer("SUCCESS", "", "", fields) }

// bizFail answers a signed result_code FAIL.
func (c *wxpayCall) bizFail(code, des string) { c.answer("FAIL", code, des, nil) }

func (c *wxpayCall) answer(result, errCode, errDes string, fields map[string]string) {
	a := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "result_code": result,
		"appid": c.req["appid"], "mch_id": c.merchant.MchID, "nonce_str": signing.NonceStr(),
	}
	if errCode != "" {
		a["err_code"], a["err_code_des"] = errCode, errDes
	}
	for k, v := range fields {
		a[k] = v
	}
	for k, v := range a {
		if v == "" {
			delete(a, k)
		}
	}
	key := c.key
	if c.x.s.badSignature(c.r) {
		key = wrongV2Key
	}
	sign, err := signing.WxpayV2Sign(a, key, c.signType)
	if err != nil {
		c.fail("签名失败")
		return
	}
	a["sign"] = sign
	writeXML(c.w, a)
}

func writeXML(w http.ResponseWriter, fields map[string]string) {
	w.Header().Set("Content-Type", "text/plain") // as WeChat Pay labels its XML
	w.WriteHeader(http.StatusOK)
	w.Write(wxpayXML(fields))
}

// read parses a v2 request and finds its merchant. It answers the failure
// itself and returns false when the request cannot be served.
func (x *wxpayEmu) read(w http.ResponseWriter, r *http.Request) (map[string]string, WxpayMerchant, bool) {
	fail := func(msg string) { writeXML(w, map[string]string{"return_code": "FAIL", "return_msg": msg}) }
	if r.Method != http.MethodPost {
		fail("请使用post方法")
		return nil, WxpayMerchant{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWxpayBody))
	if err != nil {
		fail("请求过大")
		return nil, WxpayMerchant{}, false
	}
	req, err := readWxpayXML(body)
	if err != nil {
		fail("XML格式错误")
		return nil, WxpayMerchant{}, false
	}
	m, ok := x.merchants[req["mch_id"]]
	if !ok || m.Key == "" {
		fail("mch_id参数格式错误")
		return nil, WxpayMerchant{}, false
	}
	return req, m, true
}

func (x *wxpayEmu) serve(rt wxpayRoute, sandbox bool, w http.ResponseWriter, r *http.Request) {
	req, m, ok := x.read(w, r)
	if !ok {
		return
	}
	c := &wxpayCall{x: x, w: w, r: r, merchant: m, key: m.Key, sandbox: sandbox, req: req}
	if sandbox {
		c.key = sandboxKey(m.Key)
	}
	c.signType = req["sign_type"]
	if c.signType == "" {
		c.signType = signing.SignTypeMD5
	}
	if c.signType != signing.SignTypeMD5 && c.signType != signing.SignTypeHMACSHA256 {
		c.fail("sign_type参数错误")
		return
	}
	if err := signing.WxpayV2VerifyType(req, c.key, c.signType); err != nil {
		c.fail("签名错误")
		return
	}
	if req["nonce_str"] == "" {
		c.fail("nonce_str参数缺失")
		return
	}
	if a := req["appid"]; a != "" && !x.s.wxpayAppBound(a) {
		c.fail(wxpayAppMismatch)
		return
	}
	if rt.cert && m.RequireCert && !clientCertOf(r, m.MchID) {
		c.fail("证书验证失败：请使用商户API证书")
		return
	}
	rt.handle(c)
}

// wxpayAppMismatch is WeChat Pay's answer to an appid not bound to the
// merchant (v2 return_msg, APIv3 PARAM_ERROR message).
const wxpayAppMismatch = "appid和mch_id不匹配"

// wxpayAppBound reports whether appid is bound to the emulator's WeChat Pay
// merchants, which take orders (JSAPI, APP, NATIVE, MWEB) and calls for any
// appid bound to them, as WeChat Pay does: one of the emulator's test
// mini-programs, official accounts (h5-weixin's JSAPI) and open-platform
// apps (app-plus). With no test app configured, every appid is (an
// emulator for payments only).
func (s *Server) wxpayAppBound(appid string) bool {
	apps := []map[string]string{s.cfg.WeixinApps, s.cfg.WeixinOfficialAccounts, s.cfg.WeixinOpenApps}
	configured := false
	for _, m := range apps {
		if _, ok := m[appid]; ok {
			return true
		}
		configured = configured || len(m) > 0
	}
	return !configured
}

// clientCertOf reports whether the request came with a client certificate
// verified by the TLS layer and issued to mchID.
func clientCertOf(r *http.Request, mchID string) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName == mchID
}

func (x *wxpayEmu) getSignKey(w http.ResponseWriter, r *http.Request) {
	req, m, ok := x.read(w, r)
	if !ok {
		return
	}
	// getsignkey is signed MD5 with the real key; its answer is unsigned.
	if err := signing.WxpayV2VerifyType(req, m.Key, signing.SignTypeMD5); err != nil {
		writeXML(w, map[string]string{"return_code": "FAIL", "return_msg": "签名错误"})
		return
	}
	writeXML(w, map[string]string{"return_code": "SUCCESS", "return_msg": "ok", "mch_id": m.MchID, "sandbox_signkey": sandboxKey(m.Key)})
}

func orderKey(mchID, outTradeNo string) string { return mchID + "\x00" + outTradeNo }

// fen reads a v2 amount: digits only.
func fen(s string) (int64, bool) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// nextID numbers transactions and refunds.
func (x *wxpayEmu) nextID(prefix string) string {
	x.seq++
	return prefix + x.s.now().In(notifyChinaTime).Format("20060102") + strconv.FormatInt(1_000_000_000+x.seq, 10) + notifyDigits(6)
}

func (x *wxpayEmu) unifiedOrder(c *wxpayCall) {
	q := c.req
	for _, k := range []string{"appid", "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"} {
		if q[k] == "" {
			c.fail("缺少参数" + k)
			return
		}
	}
	total, ok := fen(q["total_fee"])
	if !ok || total < 1 {
		c.fail("total_fee参数错误")
		return
	}
	switch q["trade_type"] {
	case "JSAPI":
		if q["openid"] == "" {
			c.bizFail("PARAM_ERROR", "JSAPI支付必须传openid")
			return
		}
	case "NATIVE":
		if q["product_id"] == "" {
			c.bizFail("PARAM_ERROR", "NATIVE支付必须传product_id")
			return
		}
	case "APP", "MWEB":
	default:
		c.bizFail("PARAM_ERROR", "trade_type参数错误")
		return
	}
	x.mu.Lock()
	o := x.orders[orderKey(c.merchant.MchID, q["out_trade_no"])]
	switch {
	case o != nil && o.state == "SUCCESS" || o != nil && o.state == "REFUND":
		x.mu.Unlock()
		c.bizFail("ORDERPAID", "该订单已支付")
		return
	case o != nil && o.state == "CLOSED":
		x.mu.Unlock()
		c.bizFail("ORDERCLOSED", "该订单已关")
		return
	case o != nil && (o.totalFee != total || o.body != q["body"]):
		x.mu.Unlock()
		c.bizFail("INVALID_REQUEST", "201 商户订单号重复")
		return
	case o == nil:
		if len(x.orders) >= maxWxpayOrders {
			x.mu.Unlock()
			c.bizFail("SYSTEMERROR", "emulator order limit reached")
			return
		}
		o = &wxOrder{
			appid: q["appid"], mchID: c.merchant.MchID, outTradeNo: q["out_trade_no"], body: q["body"],
			attach: q["attach"], notifyURL: q["notify_url"], tradeType: q["trade_type"], openid: q["openid"],
			feeType: orDefault(q["fee_type"], "CNY"), signType: c.signType, sandbox: c.sandbox,
			totalFee: total, state: "NOTPAY", created: x.s.now(),
			prepayID: "wx" + x.s.now().In(notifyChinaTime).Format("20060102150405") + randomAlnum(20),
		}
		x.orders[orderKey(o.mchID, o.outTradeNo)] = o
	}
	// The same order placed again gets the same prepay_id, as on WeChat Pay
	// (a changed notify_url is taken).
	o.notifyURL = q["notify_url"]
	fields := map[string]string{"trade_type": o.tradeType, "prepay_id": o.prepayID}
	switch o.tradeType {
	case "NATIVE":
		fields["code_url"] = "weixin://wxpay/bizpayurl?pr=" + randomAlnum(7)
	case "MWEB":
		fields["mweb_url"] = "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=" + o.prepayID + "&package=" + notifyDigits(10)
	}
	x.mu.Unlock()
	c.ok(fields)
}

// lookup finds the order a request names by transaction_id or
// out_trade_no. Call with x.mu held.
func (x *wxpayEmu) lookup(c *wxpayCall) *wxOrder {
	if tx := c.req["transaction_id"]; tx != "" {
		if o := x.byTx[tx]; o != nil && o.mchID == c.merchant.MchID {
			return o
		}
		return nil
	}
	return x.orders[orderKey(c.merchant.MchID, c.req["out_trade_no"])]
}

func (x *wxpayEmu) orderQuery(c *wxpayCall) {
	if c.req["transaction_id"] == "" && c.req["out_trade_no"] == "" {
		c.fail("缺少参数out_trade_no或transaction_id")
		return
	}
	x.mu.Lock()
	o := x.lookup(c)
	if o == nil {
		x.mu.Unlock()
		c.bizFail("ORDERNOTEXIST", "订单不存在")
		return
	}
	fields := map[string]string{
		"out_trade_no": o.outTradeNo, "trade_state": o.state, "trade_type": o.tradeType,
		"total_fee": strconv.FormatInt(o.totalFee, 10), "fee_type": o.feeType, "attach": o.attach,
		"trade_state_desc": map[string]string{"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "订单发生过退款"}[o.state],
	}
	if o.state == "SUCCESS" || o.state == "REFUND" {
		fields["transaction_id"] = o.transactionID
		fields["openid"] = orDefault(o.openid, "oEmulatorPayer0000000000000")
		fields["is_subscribe"] = "N"
		fields["bank_type"] = "OTHERS"
		fields["cash_fee"] = fields["total_fee"]
		fields["settlement_total_fee"] = fields["total_fee"]
		fields["time_end"] = o.paid.In(notifyChinaTime).Format("20060102150405")
	}
	x.mu.Unlock()
	c.ok(fields)
}

func (x *wxpayEmu) closeOrder(c *wxpayCall) {
	if c.req["out_trade_no"] == "" {
		c.fail("缺少参数out_trade_no")
		return
	}
	x.mu.Lock()
	o := x.orders[orderKey(c.merchant.MchID, c.req["out_trade_no"])]
	code, des := "", ""
	switch {
	case o == nil:
		code, des = "ORDERNOTEXIST", "订单不存在"
	case o.state == "SUCCESS" || o.state == "REFUND":
		code, des = "ORDERPAID", "订单已支付，不能发起关单"
	default:
		o.state = "CLOSED"
	}
	x.mu.Unlock()
	if code != "" {
		c.bizFail(code, des)
		return
	}
	c.ok(map[string]string{"result_msg": "OK"})
}

func (x *wxpayEmu) refund(c *wxpayCall) {
	q := c.req
	if q["out_refund_no"] == "" || q["total_fee"] == "" || q["refund_fee"] == "" || (q["out_trade_no"] == "" && q["transaction_id"] == "") {
		c.fail("缺少参数")
		return
	}
	total, ok1 := fen(q["total_fee"])
	fee, ok2 := fen(q["refund_fee"])
	if !ok1 || !ok2 || fee < 1 {
		c.fail("金额参数错误")
		return
	}
	x.mu.Lock()
	o := x.lookup(c)
	var rf *wxRefund
	code, des := "", ""
	switch {
	case o == nil:
		code, des = "ORDERNOTEXIST", "订单不存在"
	case o.state != "SUCCESS" && o.state != "REFUND":
		code, des = "TRADE_STATE_ERROR", "订单状态错误"
	case total != o.totalFee:
		code, des = "PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试"
	default:
		for _, r := range o.refunds {
			if r.outRefundNo == q["out_refund_no"] {
				rf = r // the same refund asked again: its result
			}
		}
		if rf == nil {
			var done int64
			for _, r := range o.refunds {
				done += r.fee
			}
			if done+fee > o.totalFee {
				code, des = "NOTENOUGH", "订单可退金额不足"
				break
			}
			rf = &wxRefund{outRefundNo: q["out_refund_no"], refundID: x.nextID("50000"), desc: q["refund_desc"], status: "SUCCESS", fee: fee, at: x.s.now()}
			o.refunds = append(o.refunds, rf)
			o.state = "REFUND"
		}
	}
	var order wxOrder
	if o != nil {
		order = *o
	}
	x.mu.Unlock()
	if code != "" {
		c.bizFail(code, des)
		return
	}
	c.ok(map[string]string{
		"transaction_id": order.transactionID, "out_trade_no": order.outTradeNo,
		"out_refund_no": rf.outRefundNo, "refund_id": rf.refundID,
		"refund_fee": strconv.FormatInt(rf.fee, 10), "settlement_refund_fee": strconv.FormatInt(rf.fee, 10),
		"total_fee": strconv.FormatInt(order.totalFee, 10), "settlement_total_fee": strconv.FormatInt(order.totalFee, 10),
		"cash_fee": strconv.FormatInt(order.totalFee, 10), "cash_refund_fee": strconv.FormatInt(rf.fee, 10),
		"refund_channel": "", "coupon_refund_fee": "0", "coupon_refund_count": "0",
	})
	if url := q["notify_url"]; url != "" {
		// WeChat Pay sends the refund result to the notify_url of the
		// refund request, after answering it.
		go x.sendRefund(url, order, *rf, c.key)
	}
}

func (x *wxpayEmu) refundQuery(c *wxpayCall) {
	q := c.req
	x.mu.Lock()
	var o *wxOrder
	switch {
	case q["refund_id"] != "" || q["out_refund_no"] != "":
		for _, cand := range x.orders {
			if cand.mchID != c.merchant.MchID {
				continue
			}
			for _, r := range cand.refunds {
				if r.refundID == q["refund_id"] || r.outRefundNo == q["out_refund_no"] {
					o = cand
				}
			}
		}
	case q["transaction_id"] != "" || q["out_trade_no"] != "":
		o = x.lookup(c)
	default:
		x.mu.Unlock()
		c.fail("缺少参数")
		return
	}
	if o == nil || len(o.refunds) == 0 {
		x.mu.Unlock()
		c.bizFail("REFUNDNOTEXIST", "退款订单查询失败")
		return
	}
	fields := map[string]string{
		"transaction_id": o.transactionID, "out_trade_no": o.outTradeNo,
		"total_fee": strconv.FormatInt(o.totalFee, 10), "cash_fee": strconv.FormatInt(o.totalFee, 10),
		// As in the refund notifications this emulator sends (sendRefund).
		"settlement_total_fee": strconv.FormatInt(o.totalFee, 10),
		"refund_count":         strconv.Itoa(len(o.refunds)), "total_refund_count": strconv.Itoa(len(o.refunds)),
	}
	var sum int64
	for i, r := range o.refunds {
		n := "_" + strconv.Itoa(i)
		sum += r.fee
		fields["out_refund_no"+n] = r.outRefundNo
		fields["refund_id"+n] = r.refundID
		fields["refund_channel"+n] = "ORIGINAL"
		fields["refund_fee"+n] = strconv.FormatInt(r.fee, 10)
		fields["settlement_refund_fee"+n] = strconv.FormatInt(r.fee, 10)
		fields["refund_status"+n] = r.status
		fields["refund_account"+n] = "REFUND_SOURCE_RECHARGE_FUNDS"
		fields["refund_recv_accout"+n] = "支付用户零钱"
		fields["refund_success_time"+n] = r.at.In(notifyChinaTime).Format(time.DateTime)
	}
	fields["refund_fee"] = strconv.FormatInt(sum, 10)
	x.mu.Unlock()
	c.ok(fields)
}
