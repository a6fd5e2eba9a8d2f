package emulator

import (
	"strconv"
	"time"
)

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

// tradePrecreate places a trade paid by scanning a QR code: no payer is
// named; the answer's qr_code is the code's content.
func (x *alipayEmu) tradePrecreate(c *aliCall) {
	if c.str("out_trade_no") == "" || c.str("subject") == "" {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no、subject必填")
		return
	}
	total, ok := yuanParam(c, "total_amount")
	if !ok {
		return
	}
	x.mu.Lock()
	t, code, msg := x.newTrade(c.app.id, c.biz, total, c.params["notify_url"])
	var fields map[string]any
	if t != nil {
		fields = map[string]any{"out_trade_no": t.outTradeNo, "qr_code": "https://qr.alipay.com/bax0" + t.tradeNo[len(t.tradeNo)-10:]}
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
