package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The orders of wx.requestVirtualPayment (made paid by POST /_emulator/xpay/pay): query_order,
// notify_provide_goods, refund_order and download_bill. The handlers run with x.mu held.

// WeChat's xpay order statuses (query_order's status).
const (
	xpayPaid      = 2 // 订单已经支付，待发货
	xpayProvided  = 4 // 订单已发货
	xpayRefunded  = 5 // 订单已经退款
	xpayOrderPay  = 0 // order_type: 支付单
	xpayBizDrama  = 0 // biz_type: 短剧
	xpayRefundRet = 0 // RetCode of a successful refund
)

// xpayOrder is a goods or coin order the client paid.
type xpayOrder struct {
	appid, openid       string
	env                 int
	orderID, wxOrderID  string
	mode, productID     string
	quantity, unitPrice int64
	orderFee, refundFee int64
	status              int
	attach              string
	mchOrderNo, txID    string
	created, paid       int64
	provided, updated   int64
}

func (o *xpayOrder) leftFee() int64 { return o.orderFee - o.refundFee }

func (o *xpayOrder) fields() map[string]any {
	return map[string]any{
		"order_id": o.orderID, "wx_order_id": o.wxOrderID, "status": o.status, "order_type": xpayOrderPay,
		"biz_type": xpayBizDrama, "order_fee": o.orderFee, "coupon_fee": 0, "paid_fee": o.orderFee,
		"refund_fee": o.refundFee, "left_fee": o.leftFee(), "create_time": o.created, "update_time": o.updated,
		"paid_time": o.paid, "provide_time": o.provided, "biz_meta": o.attach, "env_type": o.env,
		"wxpay_order_id": o.txID, "channel_order_id": o.mchOrderNo,
	}
}

// findOrder is the order named by order_id or wx_order_id (of openid, when given); nil, and the call answered,
// when there is none.
func (x *xpay) findOrder(c *xpayCall) *xpayOrder {
	var o *xpayOrder
	if id := c.str("order_id"); id != "" {
		o = x.orders[c.key(id)]
	} else if wx := c.str("wx_order_id"); wx != "" {
		for _, cand := range x.orders {
			if cand.appid == c.app.AppID && cand.env == c.env && cand.wxOrderID == wx {
				o = cand
				break
			}
		}
	} else {
		c.fail(xpayBadField, "order_id or wx_order_id is required")
		return nil
	}
	if o == nil || (c.str("openid") != "" && c.str("openid") != o.openid) {
		c.fail(xpayBadField, "订单不存在")
		return nil
	}
	return o
}

func (x *xpay) queryOrder(c *xpayCall) {
	if o := x.findOrder(c); o != nil {
		c.ok(map[string]any{"order": o.fields()})
	}
}

func (x *xpay) notifyProvideGoods(c *xpayCall) {
	o := x.findOrder(c)
	if o == nil {
		return
	}
	if o.status != xpayPaid {
		c.fail(xpayDuplicate, "重复操作: the order is not waiting for delivery")
		return
	}
	now := x.s.now().Unix()
	o.status, o.provided, o.updated = xpayProvided, now, now
	c.ok(nil)
}

func (x *xpay) refundOrder(c *xpayCall) {
	if c.str("openid") == "" {
		c.fail(xpayBadOpenID, "openid错误")
		return
	}
	if !c.required("refund_order_id") {
		return
	}
	left, ok := c.integer("left_fee", true)
	if !ok {
		return
	}
	fee, ok := c.integer("refund_fee", true)
	if !ok {
		return
	}
	for _, f := range []string{"refund_reason", "req_from"} {
		if v, present := c.body[f]; present {
			if _, isStr := v.(string); !isStr {
				c.fail(xpayBadField, f+" must be a string")
				return
			}
		}
	}
	o := x.findOrder(c)
	if o == nil {
		return
	}
	rk := c.key("refund", c.str("refund_order_id"))
	if _, dup := x.refunds[rk]; dup {
		c.fail(xpayDuplicate, "重复操作: refund_order_id was used")
		return
	}
	if left != o.leftFee() {
		c.fail(xpayBadLeftFee, "退款的left_fee字段与实际不符")
		return
	}
	if fee < 1 || fee > left {
		c.fail(xpayBadField, "refund_fee must be between 1 and left_fee")
		return
	}
	now := x.s.now().Unix()
	o.refundFee += fee
	o.updated = now
	if o.leftFee() == 0 {
		o.status = xpayRefunded
	}
	wxRefund := x.nextID("wxr")
	if len(x.refunds) < maxXpayOrders {
		x.refunds[rk] = wxRefund
	}
	c.ok(map[string]any{
		"refund_order_id": c.str("refund_order_id"), "refund_wx_order_id": wxRefund,
		"pay_order_id": o.orderID, "pay_wx_order_id": o.wxOrderID,
	})
	x.pushLater(o.appid, map[string]any{
		"MsgType": "event", "Event": "xpay_refund_notify", "FromUserName": o.openid, "OpenId": o.openid,
		"WxRefundId": wxRefund, "MchRefundId": c.str("refund_order_id"), "WxOrderId": o.wxOrderID,
		"MchOrderId": o.orderID, "RefundFee": fee, "RetCode": xpayRefundRet, "RetMsg": "success",
		"RefundStartTimestamp": now, "RefundSuccTimestamp": now, "WxpayRefundTransactionId": "50" + wxRefund[3:],
	})
}

// downloadBill answers the url of the bill of begin_ds..end_ds (yyyymmdd integers), served by the emulator at
// /_emulator/xpay/bill.
func (x *xpay) downloadBill(c *xpayCall) {
	begin, ok := c.integer("begin_ds", true)
	if !ok {
		return
	}
	end, ok := c.integer("end_ds", true)
	if !ok {
		return
	}
	if begin < 20000101 || end < begin || end > 99991231 {
		c.fail(xpayBadField, "begin_ds and end_ds must be yyyymmdd, begin_ds first")
		return
	}
	q := url.Values{"appid": {c.app.AppID}, "env": {strconv.Itoa(c.env)},
		"begin_ds": {strconv.FormatInt(begin, 10)}, "end_ds": {strconv.FormatInt(end, 10)}}
	c.ok(map[string]any{"url": "http://" + c.r.Host + "/_emulator/xpay/bill?" + q.Encode()})
}

// billHook is GET /_emulator/xpay/bill: the orders paid in the range, as CSV.
func (x *xpay) billHook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env, _ := strconv.Atoi(q.Get("env"))
	begin, end := q.Get("begin_ds"), q.Get("end_ds")
	x.mu.Lock()
	var rows []string
	for _, o := range x.orders {
		day := time.Unix(o.paid, 0).In(chinaTime).Format("20060102")
		if o.appid == q.Get("appid") && o.env == env && day >= begin && day <= end {
			rows = append(rows, fmt.Sprintf("%s,%s,%s,%s,%d,%d,%d", day, o.orderID, o.wxOrderID, o.openid,
				o.orderFee, o.refundFee, o.status))
		}
	}
	x.mu.Unlock()
	sort.Strings(rows)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	fmt.Fprintf(w, "date,order_id,wx_order_id,openid,order_fee,refund_fee,status\n%s", strings.Join(rows, "\n"))
	if len(rows) > 0 {
		fmt.Fprintln(w)
	}
}
