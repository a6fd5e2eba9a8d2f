package emulator

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// The APIv3 calls. Orders and refunds are the v2 emulator's (wxOrder,
// wxRefund): an order placed through APIv3 can be queried through v2 and
// the other way round, as one merchant's orders are on WeChat Pay.

var v3TradeTypes = map[string]string{"jsapi": "JSAPI", "app": "APP", "native": "NATIVE", "h5": "MWEB"}

// v3Str reads a string member; v3Int an integer one.
func v3Str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func v3Obj(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }

func v3Int(m map[string]any, k string) (int64, bool) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func (x *wxpayV3Emu) markV3(key string) {
	x.mu.Lock()
	x.v3Orders[key] = true
	x.mu.Unlock()
}

func (x *wxpayV3Emu) isV3(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.v3Orders[key]
}

// prepay answers POST /v3/pay/transactions/{jsapi,app,native,h5}.
func (x *wxpayV3Emu) prepay(kind string) func(*wxv3Call) {
	return func(c *wxv3Call) {
		if !c.method(http.MethodPost) {
			return
		}
		q, ok := c.decodeJSON()
		if !ok {
			return
		}
		for _, k := range []string{"appid", "mchid", "description", "out_trade_no", "notify_url"} {
			if v3Str(q, k) == "" {
				c.fail(http.StatusBadRequest, "PARAM_ERROR", "缺少参数"+k)
				return
			}
		}
		if v3Str(q, "mchid") != c.m.cfg.MchID {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "mchid与请求头中的商户号不一致")
			return
		}
		if !x.s.wxpayAppBound(v3Str(q, "appid")) {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", wxpayAppMismatch)
			return
		}
		amount := v3Obj(q, "amount")
		total, ok := v3Int(amount, "total")
		if !ok || total < 1 {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "amount.total参数错误")
			return
		}
		openid := v3Str(v3Obj(q, "payer"), "openid")
		scene := v3Obj(q, "scene_info")
		switch kind {
		case "jsapi":
			if openid == "" {
				c.fail(http.StatusBadRequest, "PARAM_ERROR", "JSAPI下单必须传payer.openid")
				return
			}
		case "h5":
			if v3Str(scene, "payer_client_ip") == "" || v3Str(v3Obj(scene, "h5_info"), "type") == "" {
				c.fail(http.StatusBadRequest, "PARAM_ERROR", "H5下单必须传scene_info.payer_client_ip和scene_info.h5_info.type")
				return
			}
		}
		w := x.s.wxpay()
		mch := c.m.cfg.MchID
		key := orderKey(mch, v3Str(q, "out_trade_no"))
		w.mu.Lock()
		o := w.orders[key]
		switch {
		case o != nil && (o.state == "SUCCESS" || o.state == "REFUND"):
			w.mu.Unlock()
			c.fail(http.StatusBadRequest, "ORDERPAID", "该订单已支付")
			return
		case o != nil && o.state == "CLOSED":
			w.mu.Unlock()
			c.fail(http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭")
			return
		case o != nil && (o.totalFee != total || o.body != v3Str(q, "description")):
			w.mu.Unlock()
			c.fail(http.StatusForbidden, "OUT_TRADE_NO_USED", "商户订单号重复")
			return
		case o == nil:
			if len(w.orders) >= maxWxpayOrders {
				w.mu.Unlock()
				c.fail(http.StatusInternalServerError, "SYSTEM_ERROR", "emulator order limit reached")
				return
			}
			now := x.s.now()
			o = &wxOrder{
				appid: v3Str(q, "appid"), mchID: mch, outTradeNo: v3Str(q, "out_trade_no"), body: v3Str(q, "description"),
				attach: v3Str(q, "attach"), tradeType: v3TradeTypes[kind], openid: openid,
				feeType: orDefault(v3Str(amount, "currency"), "CNY"), totalFee: total, state: "NOTPAY", created: now,
				prepayID: "wx" + now.In(notifyChinaTime).Format("20060102150405") + randomAlnum(20),
			}
			w.orders[key] = o
		}
		o.notifyURL = v3Str(q, "notify_url")
		prepayID, tradeType := o.prepayID, o.tradeType
		w.mu.Unlock()
		x.markV3(key)
		switch tradeType {
		case "NATIVE":
			c.ok(map[string]string{"code_url": "weixin://wxpay/bizpayurl?pr=" + randomAlnum(7)})
		case "MWEB":
			c.ok(map[string]string{"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=" + prepayID + "&package=" + notifyDigits(10)})
		default:
			c.ok(map[string]string{"prepay_id": prepayID})
		}
	}
}

var v3TradeStateDesc = map[string]string{"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "转入退款"}

// transaction is an order as the APIv3 order query answers it. Call with
// the v2 emulator's lock held.
func v3Transaction(o *wxOrder) map[string]any {
	t := map[string]any{
		"appid": o.appid, "mchid": o.mchID, "out_trade_no": o.outTradeNo, "trade_type": o.tradeType,
		"trade_state": o.state, "trade_state_desc": v3TradeStateDesc[o.state],
		"amount": map[string]any{"total": o.totalFee, "currency": o.feeType},
	}
	if o.attach != "" {
		t["attach"] = o.attach
	}
	if o.state == "SUCCESS" || o.state == "REFUND" {
		t["transaction_id"] = o.transactionID
		t["bank_type"] = "OTHERS"
		t["success_time"] = o.paid.In(notifyChinaTime).Format(time.RFC3339)
		t["payer"] = map[string]string{"openid": orDefault(o.openid, "oEmulatorPayer0000000000000")}
		t["amount"] = map[string]any{"total": o.totalFee, "payer_total": o.totalFee, "currency": o.feeType, "payer_currency": o.feeType}
	}
	return t
}

// queryByID answers GET /v3/pay/transactions/id/{transaction_id}?mchid=….
func (x *wxpayV3Emu) queryByID(c *wxv3Call) {
	id := strings.TrimPrefix(c.r.URL.Path, "/v3/pay/transactions/id/")
	if !c.method(http.MethodGet) || !x.queryMchID(c) {
		return
	}
	w := x.s.wxpay()
	w.mu.Lock()
	o := w.byTx[id]
	if o == nil || o.mchID != c.m.cfg.MchID {
		w.mu.Unlock()
		c.fail(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	t := v3Transaction(o)
	w.mu.Unlock()
	c.ok(t)
}

func (x *wxpayV3Emu) queryMchID(c *wxv3Call) bool {
	if c.r.URL.Query().Get("mchid") != c.m.cfg.MchID {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "mchid参数错误")
		return false
	}
	return true
}

// outTradeNo answers GET /v3/pay/transactions/out-trade-no/{no}?mchid=…
// and POST /v3/pay/transactions/out-trade-no/{no}/close.
func (x *wxpayV3Emu) outTradeNo(c *wxv3Call) {
	rest := strings.TrimPrefix(c.r.URL.Path, "/v3/pay/transactions/out-trade-no/")
	no, closing := strings.CutSuffix(rest, "/close")
	if no == "" || strings.Contains(no, "/") {
		c.fail(http.StatusNotFound, "NOT_FOUND", "无此API")
		return
	}
	w := x.s.wxpay()
	key := orderKey(c.m.cfg.MchID, no)
	if closing {
		if !c.method(http.MethodPost) {
			return
		}
		q, ok := c.decodeJSON()
		if !ok {
			return
		}
		if v3Str(q, "mchid") != c.m.cfg.MchID {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "mchid参数错误")
			return
		}
		w.mu.Lock()
		o := w.orders[key]
		code, msg, status := "", "", 0
		switch {
		case o == nil:
			code, msg, status = "ORDER_NOT_EXIST", "订单不存在", http.StatusNotFound
		case o.state == "SUCCESS" || o.state == "REFUND":
			code, msg, status = "ORDERPAID", "订单已支付", http.StatusBadRequest
		default:
			o.state = "CLOSED"
		}
		w.mu.Unlock()
		if code != "" {
			c.fail(status, code, msg)
			return
		}
		c.answer(http.StatusNoContent, nil)
		return
	}
	if !c.method(http.MethodGet) || !x.queryMchID(c) {
		return
	}
	w.mu.Lock()
	o := w.orders[key]
	if o == nil {
		w.mu.Unlock()
		c.fail(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		return
	}
	t := v3Transaction(o)
	w.mu.Unlock()
	c.ok(t)
}

// v3RefundJSON is a refund as the APIv3 refund calls answer it.
func v3RefundJSON(o *wxOrder, r *wxRefund) map[string]any {
	return map[string]any{
		"refund_id": r.refundID, "out_refund_no": r.outRefundNo, "transaction_id": o.transactionID,
		"out_trade_no": o.outTradeNo, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
		"success_time": r.at.In(notifyChinaTime).Format(time.RFC3339), "create_time": r.at.In(notifyChinaTime).Format(time.RFC3339),
		"status": r.status, "funds_account": "AVAILABLE",
		"amount": map[string]any{
			"total": o.totalFee, "refund": r.fee, "payer_total": o.totalFee, "payer_refund": r.fee,
			"settlement_refund": r.fee, "settlement_total": o.totalFee, "discount_refund": 0, "currency": o.feeType,
			"refund_fee": 0, "from": []any{},
		},
	}
}

// refund answers POST /v3/refund/domestic/refunds; with a notify_url the
// APIv3 refund notification follows.
func (x *wxpayV3Emu) refund(c *wxv3Call) {
	if !c.method(http.MethodPost) {
		return
	}
	q, ok := c.decodeJSON()
	if !ok {
		return
	}
	amount := v3Obj(q, "amount")
	total, ok1 := v3Int(amount, "total")
	fee, ok2 := v3Int(amount, "refund")
	if v3Str(q, "out_refund_no") == "" || (v3Str(q, "out_trade_no") == "" && v3Str(q, "transaction_id") == "") || !ok1 || !ok2 || fee < 1 {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "缺少参数或金额参数错误")
		return
	}
	w := x.s.wxpay()
	mch := c.m.cfg.MchID
	w.mu.Lock()
	var o *wxOrder
	if tx := v3Str(q, "transaction_id"); tx != "" {
		if cand := w.byTx[tx]; cand != nil && cand.mchID == mch {
			o = cand
		}
	} else {
		o = w.orders[orderKey(mch, v3Str(q, "out_trade_no"))]
	}
	var rf *wxRefund
	code, msg, status := "", "", 0
	switch {
	case o == nil:
		code, msg, status = "RESOURCE_NOT_EXISTS", "订单不存在", http.StatusNotFound
	case o.state != "SUCCESS" && o.state != "REFUND":
		code, msg, status = "INVALID_REQUEST", "订单状态不正确，不能退款", http.StatusBadRequest
	case total != o.totalFee:
		code, msg, status = "PARAM_ERROR", "订单金额与之前请求不一致", http.StatusBadRequest
	default:
		for _, r := range o.refunds {
			if r.outRefundNo == v3Str(q, "out_refund_no") {
				rf = r
			}
		}
		if rf == nil {
			var done int64
			for _, r := range o.refunds {
				done += r.fee
			}
			if done+fee > o.totalFee {
				code, msg, status = "NOT_ENOUGH", "订单可退金额不足", http.StatusForbidden
				break
			}
			rf = &wxRefund{outRefundNo: v3Str(q, "out_refund_no"), refundID: w.nextID("50300"), desc: v3Str(q, "reason"),
				status: "SUCCESS", fee: fee, at: x.s.now()}
			o.refunds = append(o.refunds, rf)
			o.state = "REFUND"
		}
	}
	var order wxOrder
	var ans map[string]any
	if code == "" {
		order = *o
		ans = v3RefundJSON(o, rf)
	}
	w.mu.Unlock()
	if code != "" {
		c.fail(status, code, msg)
		return
	}
	c.ok(ans)
	if url := v3Str(q, "notify_url"); url != "" {
		go x.sendRefund(c.m, url, order, *rf)
	}
}

// queryRefund answers GET /v3/refund/domestic/refunds/{out_refund_no}.
func (x *wxpayV3Emu) queryRefund(c *wxv3Call) {
	no := strings.TrimPrefix(c.r.URL.Path, "/v3/refund/domestic/refunds/")
	if !c.method(http.MethodGet) {
		return
	}
	w := x.s.wxpay()
	w.mu.Lock()
	var ans map[string]any
	for _, o := range w.orders {
		if o.mchID != c.m.cfg.MchID {
			continue
		}
		for _, r := range o.refunds {
			if r.outRefundNo == no {
				ans = v3RefundJSON(o, r)
			}
		}
	}
	w.mu.Unlock()
	if ans == nil {
		c.fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
		return
	}
	c.ok(ans)
}

// sendRefund sends the APIv3 REFUND.SUCCESS notification in the
// background, as WeChat Pay does after a refund.
func (x *wxpayV3Emu) sendRefund(m *wxv3Merchant, url string, order wxOrder, rf wxRefund) {
	s, err := x.notifySigner(m)
	if err != nil {
		return
	}
	n := NotifyOrder{
		AppID: order.appid, MchID: order.mchID, OutTradeNo: order.outTradeNo, TransactionID: order.transactionID,
		TotalFee: order.totalFee, Time: rf.at, OutRefundNo: rf.outRefundNo, RefundID: rf.refundID,
		RefundFee: rf.fee, RefundStatus: rf.status,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = SendWxpayV3Refund(ctx, url, n, s)
}

// paymentNotification is the APIv3 TRANSACTION.SUCCESS notification of an
// order placed through APIv3 ("pay this order"); ok is false for the
// other orders.
func (x *wxpayV3Emu) paymentNotification(order wxOrder, n NotifyOrder) (msg *NotifyMessage, ok bool, err error) {
	if !x.isV3(orderKey(order.mchID, order.outTradeNo)) {
		return nil, false, nil
	}
	m := x.merchants[order.mchID]
	if m == nil || m.err != nil {
		return nil, true, ErrNoSuchMerchant
	}
	s, err := x.notifySigner(m)
	if err != nil {
		return nil, true, err
	}
	msg, err = WxpayV3TransactionNotification(n, s)
	return msg, true, err
}

// bufferWriter keeps what a v2 handler writes, to reuse it.
type bufferWriter struct {
	h      http.Header
	status int
	b      bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.b.Write(p) }
func (b *bufferWriter) WriteHeader(status int)      { b.status = status }

// maxV3Bills bounds the bill files kept for download.
const maxV3Bills = 64

// v3BillDate reads an APIv3 bill_date (yyyy-MM-dd) as v2's yyyyMMdd.
func v3BillDate(d string) (string, bool) {
	if len(d) != 10 || d[4] != '-' || d[7] != '-' {
		return "", false
	}
	v2 := d[:4] + d[5:7] + d[8:]
	return v2, strings.TrimLeft(v2, "0123456789") == ""
}

// bill makes a bill with the v2 emulator's generator and answers where to
// download it and its SHA1.
func (x *wxpayV3Emu) bill(c *wxv3Call, fundflow bool) {
	if !c.method(http.MethodGet) {
		return
	}
	q := c.r.URL.Query()
	day, ok := v3BillDate(q.Get("bill_date"))
	if !ok {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "bill_date参数错误")
		return
	}
	req := map[string]string{"bill_date": day, "tar_type": q.Get("tar_type")}
	if tt := q.Get("tar_type"); tt != "" && tt != "GZIP" {
		c.fail(http.StatusBadRequest, "PARAM_ERROR", "tar_type参数错误")
		return
	}
	w := x.s.wxpay()
	buf := &bufferWriter{h: http.Header{}}
	call := &wxpayCall{x: w, w: buf, r: c.r, merchant: WxpayMerchant{MchID: c.m.cfg.MchID}, req: req, signType: signing.SignTypeHMACSHA256}
	if fundflow {
		at := map[string]string{"": "Basic", "BASIC": "Basic", "OPERATION": "Operation", "FEES": "Fees"}[q.Get("account_type")]
		if at == "" {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "account_type参数错误")
			return
		}
		req["account_type"] = at
		w.downloadFundflow(call)
	} else {
		bt := orDefault(q.Get("bill_type"), "ALL")
		if bt != "ALL" && bt != "SUCCESS" && bt != "REFUND" {
			c.fail(http.StatusBadRequest, "PARAM_ERROR", "bill_type参数错误")
			return
		}
		req["bill_type"] = bt
		w.downloadBill(call)
	}
	file := buf.b.Bytes()
	if bytes.HasPrefix(file, []byte("<xml>")) {
		c.fail(http.StatusBadRequest, "NO_STATEMENT_EXIST", "账单文件不存在")
		return
	}
	token := randomAlnum(32)
	x.mu.Lock()
	x.bills[token] = append([]byte(nil), file...)
	x.billOrder = append(x.billOrder, token)
	if len(x.billOrder) > maxV3Bills {
		delete(x.bills, x.billOrder[0])
		x.billOrder = x.billOrder[1:]
	}
	x.mu.Unlock()
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	sum := sha1.Sum(file)
	c.ok(map[string]string{
		"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]),
		"download_url": scheme + "://" + c.r.Host + "/v3/billdownload/file?token=" + token,
	})
}

func (x *wxpayV3Emu) tradeBill(c *wxv3Call)    { x.bill(c, false) }
func (x *wxpayV3Emu) fundflowBill(c *wxv3Call) { x.bill(c, true) }

// billFile answers GET /v3/billdownload/file?token=…: the file, unsigned
// (its SHA1 was in the signed answer).
func (x *wxpayV3Emu) billFile(c *wxv3Call) {
	if !c.method(http.MethodGet) {
		return
	}
	x.mu.Lock()
	file, ok := x.bills[c.r.URL.Query().Get("token")]
	x.mu.Unlock()
	if !ok {
		c.fail(http.StatusBadRequest, "INVALID_REQUEST", "token无效或已过期")
		return
	}
	c.w.Header().Set("Content-Type", "application/octet-stream")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(file)
}
