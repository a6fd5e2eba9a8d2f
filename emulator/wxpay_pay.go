package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// PayResult is what "pay this order" did: the order, and how its
// notifyUrl answered the signed notification.
type PayResult struct {
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TotalFee      int64  `json:"total_fee"`
	NotifyURL     string `json:"notify_url"`
	// NotifyStatus is the HTTP status the notifyUrl answered (0 when it
	// could not be reached: see NotifyError).
	NotifyStatus int    `json:"notify_status"`
	NotifyAnswer string `json:"notify_answer,omitempty"`
	NotifyError  string `json:"notify_error,omitempty"`
}

// Errors of the pay hooks.
var (
	ErrNoSuchOrder  = errors.New("emulator: no such order")
	ErrOrderClosed  = errors.New("emulator: the order is closed")
	ErrAmbiguousPay = errors.New("emulator: several merchants have an order with this out_trade_no: name the merchant")
)

// PayWxpayOrder pays a WeChat Pay order placed with unifiedorder (mchID may
// be empty when only one merchant has that out_trade_no) and sends the
// signed payment notification to its notify_url (v2, or APIv3 for an order
// placed through APIv3), as WeChat Pay does when the payer confirms. Paying a paid order sends the notification again.
//
// Also POST /_emulator/wxpay/pay?out_trade_no=…[&mch_id=…].
func (s *Server) PayWxpayOrder(ctx context.Context, mchID, outTradeNo string) (*PayResult, error) {
	x := s.wxpay()
	x.mu.Lock()
	var o *wxOrder
	if mchID != "" {
		o = x.orders[orderKey(mchID, outTradeNo)]
	} else {
		for _, cand := range x.orders {
			if cand.outTradeNo == outTradeNo {
				if o != nil {
					x.mu.Unlock()
					return nil, ErrAmbiguousPay
				}
				o = cand
			}
		}
	}
	if o == nil {
		x.mu.Unlock()
		return nil, ErrNoSuchOrder
	}
	if o.state == "CLOSED" {
		x.mu.Unlock()
		return nil, ErrOrderClosed
	}
	if o.state == "NOTPAY" {
		o.state = "SUCCESS"
		o.paid = s.now()
		o.transactionID = x.nextID("4200")
		x.byTx[o.transactionID] = o
	}
	order := *o
	x.mu.Unlock()

	key := x.merchants[order.mchID].Key
	if order.sandbox {
		key = sandboxKey(key)
	}
	n := NotifyOrder{
		AppID: order.appid, MchID: order.mchID, OutTradeNo: order.outTradeNo, TransactionID: order.transactionID,
		TotalFee: order.totalFee, FeeType: order.feeType, OpenID: orDefault(order.openid, "oEmulatorPayer0000000000000"),
		Time: order.paid, Attach: order.attach,
	}
	res := &PayResult{OutTradeNo: order.outTradeNo, TransactionID: order.transactionID, TotalFee: order.totalFee, NotifyURL: order.notifyURL}
	// An order placed through APIv3 gets an APIv3 notification (wxpay_v3.go).
	msg, isV3, err := s.wxpayV3().paymentNotification(order, n)
	if !isV3 {
		msg, err = WxpayV2PaymentNotification(n, key, order.signType)
	}
	if err != nil {
		return nil, err
	}
	res.send(ctx, msg)
	return res, nil
}

func (res *PayResult) send(ctx context.Context, msg *NotifyMessage) {
	status, body, err := SendNotification(ctx, res.NotifyURL, msg)
	res.NotifyStatus, res.NotifyAnswer = status, string(body)
	if err != nil {
		res.NotifyError = err.Error()
	}
}

// payHookError answers a pay hook's failure.
func payHookError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNoSuchOrder):
		status = http.StatusNotFound
	case errors.Is(err, ErrOrderClosed), errors.Is(err, ErrAmbiguousPay):
		status = http.StatusConflict
	}
	writeJSON(w, status, errBody(-1, err.Error()))
}

func (x *wxpayEmu) payHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "GET or POST"))
		return
	}
	q := r.URL.Query()
	if q.Get("out_trade_no") == "" {
		writeJSON(w, http.StatusBadRequest, errBody(-1, "out_trade_no is required"))
		return
	}
	res, err := x.s.PayWxpayOrder(r.Context(), q.Get("mch_id"), q.Get("out_trade_no"))
	if err != nil {
		payHookError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// sendRefund sends a v2 refund notification (req_info encrypted with the
// key) in the background, as WeChat Pay does after a refund.
func (x *wxpayEmu) sendRefund(url string, order wxOrder, rf wxRefund, key string) {
	n := NotifyOrder{
		AppID: order.appid, MchID: order.mchID, OutTradeNo: order.outTradeNo, TransactionID: order.transactionID,
		TotalFee: order.totalFee, Time: rf.at, OutRefundNo: rf.outRefundNo, RefundID: rf.refundID,
		RefundFee: rf.fee, RefundStatus: rf.status,
	}
	msg, err := WxpayV2RefundNotification(n, key)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = SendNotification(ctx, url, msg)
}

// Bill headers, as WeChat Pay writes them.
const (
	billHeaderAll     = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
	billHeaderSuccess = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,商品名称,商户数据包,手续费,费率"
	billHeaderRefund  = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率"
	billSummary       = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"
	fundflowHeader    = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号"
	fundflowSummary   = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
)

// billLine writes fields the way bills do: each behind a backquote.
func billLine(b *strings.Builder, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('`')
		b.WriteString(f)
	}
	b.WriteByte('\n')
}

// fee is the 0.6% service fee of an amount, in yuan with five decimals as
// bills write it (rounded half up, in fen hundred-thousandths).
func fee(amount int64) string {
	if amount < 0 {
		return "-" + fee(-amount)
	}
	m := amount * 6 // in 10^-5 yuan: amount/100 yuan × 0.006
	return strconv.FormatInt(m/100000, 10) + "." + fmt.Sprintf("%05d", m%100000)
}

// sameDay reports whether t is on the China-time day yyyyMMdd.
func sameDay(t time.Time, day string) bool {
	return !t.IsZero() && t.In(notifyChinaTime).Format("20060102") == day
}

func (x *wxpayEmu) downloadBill(c *wxpayCall) {
	day, kind := c.req["bill_date"], orDefault(c.req["bill_type"], "ALL")
	if len(day) != 8 {
		c.fail("bill_date参数错误")
		return
	}
	if kind != "ALL" && kind != "SUCCESS" && kind != "REFUND" {
		c.fail("bill_type参数错误")
		return
	}
	var b strings.Builder
	switch kind {
	case "ALL":
		b.WriteString(billHeaderAll + "\n")
	case "SUCCESS":
		b.WriteString(billHeaderSuccess + "\n")
	default:
		b.WriteString(billHeaderRefund + "\n")
	}
	var count, total, refunded, fees int64
	x.mu.Lock()
	for _, o := range x.sortedOrders(c.merchant.MchID) {
		base := []string{"", o.appid, o.mchID, "0", "", o.transactionID, o.outTradeNo, orDefault(o.openid, "oEmulatorPayer0000000000000"), o.tradeType}
		paid := yuan(o.totalFee)
		if kind != "REFUND" && sameDay(o.paid, day) {
			base[0] = o.paid.In(notifyChinaTime).Format(time.DateTime)
			row := append(append([]string{}, base...), "SUCCESS", "OTHERS", o.feeType, paid, "0.00")
			if kind == "ALL" {
				row = append(row, "0", "0", "0.00", "0.00", "", "")
			}
			billLine(&b, append(row, o.body, o.attach, fee(o.totalFee), "0.60%")...)
			count++
			total += o.totalFee
			fees += o.totalFee
		}
		if kind == "SUCCESS" {
			continue
		}
		for _, r := range o.refunds {
			if !sameDay(r.at, day) {
				continue
			}
			at := r.at.In(notifyChinaTime).Format(time.DateTime)
			base[0] = at
			row := append(append([]string{}, base...), "REFUND", "OTHERS", o.feeType, paid, "0.00")
			if kind == "ALL" {
				row = append(row, r.refundID, r.outRefundNo, yuan(r.fee), "0.00", "ORIGINAL", r.status)
			} else {
				row = append(row, at, at, r.refundID, r.outRefundNo, yuan(r.fee), "0.00", "ORIGINAL", r.status)
			}
			billLine(&b, append(row, o.body, o.attach, "-"+fee(r.fee), "0.60%")...)
			count++
			refunded += r.fee
			fees -= r.fee
		}
	}
	x.mu.Unlock()
	if count == 0 {
		writeXML(c.w, map[string]string{"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"})
		return
	}
	b.WriteString(billSummary + "\n")
	billLine(&b, strconv.FormatInt(count, 10), yuan(total), yuan(refunded), "0.00", fee(fees))
	writeBill(c, b.String())
}

func (x *wxpayEmu) downloadFundflow(c *wxpayCall) {
	if c.signType != signing.SignTypeHMACSHA256 {
		c.fail("签名类型错误：downloadfundflow仅支持HMAC-SHA256")
		return
	}
	day, account := c.req["bill_date"], orDefault(c.req["account_type"], "Basic")
	if len(day) != 8 {
		c.fail("bill_date参数错误")
		return
	}
	if account != "Basic" && account != "Operation" && account != "Fees" {
		c.fail("account_type参数错误")
		return
	}
	type entry struct {
		at                  time.Time
		tx, name, kind, dir string
		amount              int64
		note, voucher       string
	}
	var entries []entry
	x.mu.Lock()
	if account == "Basic" {
		for _, o := range x.sortedOrders(c.merchant.MchID) {
			if sameDay(o.paid, day) {
				entries = append(entries, entry{o.paid, o.transactionID, "交易", "交易", "收入", o.totalFee, "", o.outTradeNo})
			}
			for _, r := range o.refunds {
				if sameDay(r.at, day) {
					entries = append(entries, entry{r.at, r.refundID, "退款", "退款", "支出", r.fee, r.desc, "REF" + o.transactionID})
				}
			}
		}
	}
	x.mu.Unlock()
	if len(entries) == 0 {
		writeXML(c.w, map[string]string{"return_code": "FAIL", "return_msg": "No Bill Exist", "error_code": "20002"})
		return
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })
	var b strings.Builder
	b.WriteString(fundflowHeader + "\n")
	var balance, in, out, nIn, nOut int64
	for i, e := range entries {
		if e.dir == "收入" {
			balance += e.amount
			in += e.amount
			nIn++
		} else {
			balance -= e.amount
			out += e.amount
			nOut++
		}
		billLine(&b, e.at.In(notifyChinaTime).Format(time.DateTime), e.tx, fmt.Sprintf("%s%06d", day, i+1), e.name, e.kind, e.dir,
			yuan(e.amount), yuan(balance), "system", e.note, e.voucher)
	}
	b.WriteString(fundflowSummary + "\n")
	billLine(&b, strconv.Itoa(len(entries)), strconv.FormatInt(nIn, 10), yuan(in), strconv.FormatInt(nOut, 10), yuan(out))
	writeBill(c, b.String())
}

// sortedOrders lists a merchant's orders by creation. Call with x.mu held.
func (x *wxpayEmu) sortedOrders(mchID string) []*wxOrder {
	var out []*wxOrder
	for _, o := range x.orders {
		if o.mchID == mchID {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].created.Before(out[j].created) || out[i].created.Equal(out[j].created) && out[i].outTradeNo < out[j].outTradeNo
	})
	return out
}

// writeBill answers a bill: text, or gzip when tar_type is GZIP.
func writeBill(c *wxpayCall, text string) {
	if c.req["tar_type"] == "GZIP" {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(text))
		zw.Close()
		c.w.Header().Set("Content-Type", "application/octet-stream")
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(b.Bytes())
		return
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write([]byte(text))
}
