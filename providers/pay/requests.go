package pay

import "strings"

// OrderRef names an order: by the provider's id or by the merchant's
// number.
type OrderRef struct {
	TransactionID string // transactionId: WeChat Pay's or Alipay's order id
	OutTradeNo    string // outTradeNo: the merchant's order number
}

// ID returns the member that names the order, the provider's id first,
// or an error naming both.
func (r OrderRef) ID() (field, id string, err error) {
	switch {
	case r.TransactionID != "":
		return "transactionId", r.TransactionID, nil
	case r.OutTradeNo != "":
		return "outTradeNo", r.OutTradeNo, nil
	}
	return "", "", Missing("transactionId or outTradeNo")
}

// Amount is an amount in integer fen, as the caller gave it; Set is false
// when the caller gave none.
type Amount struct {
	Fen int64
	Set bool
}

// Positive returns a required amount of at least 1 fen, or the error
// naming the parameter (name).
func (a Amount) Positive(name string) (int64, error) {
	if !a.Set {
		return 0, Missing(name)
	}
	if a.Fen < 1 {
		return 0, BadRequest("parameter must be at least 1 fen: " + name)
	}
	return a.Fen, nil
}

// reader reads typed members from Params, keeping the first error.
type reader struct {
	p   Params
	err error
}

func (r *reader) str(name string) string {
	s, err := r.p.Str(name)
	if r.err == nil {
		r.err = err
	}
	return s
}

func (r *reader) fen(name string) Amount {
	n, ok, err := r.p.Fen(name, false)
	if r.err == nil {
		r.err = err
	}
	return Amount{Fen: n, Set: ok}
}

func (r *reader) ref() OrderRef {
	return OrderRef{TransactionID: r.str("transactionId"), OutTradeNo: r.str("outTradeNo")}
}

// NewOrderQueryRequest reads orderQuery's members from p.
func NewOrderQueryRequest(p Params) (*OrderQueryRequest, error) {
	r := reader{p: p}
	req := &OrderQueryRequest{OrderRef: r.ref(), ClientType: r.str("clientType"), Params: p}
	return req, r.err
}

// NewCloseOrderRequest reads closeOrder's members from p.
func NewCloseOrderRequest(p Params) (*CloseOrderRequest, error) {
	r := reader{p: p}
	req := &CloseOrderRequest{OrderRef: r.ref(), ClientType: r.str("clientType"), Params: p}
	return req, r.err
}

// NewCancelOrderRequest reads cancelOrder's members from p.
func NewCancelOrderRequest(p Params) (*CancelOrderRequest, error) {
	r := reader{p: p}
	req := &CancelOrderRequest{OrderRef: r.ref(), ClientType: r.str("clientType"), Params: p}
	return req, r.err
}

// NewRefundRequest reads refund's members from p: the amounts must be
// integer fen when given.
func NewRefundRequest(p Params) (*RefundRequest, error) {
	r := reader{p: p}
	req := &RefundRequest{
		OrderRef: r.ref(), ClientType: r.str("clientType"), OutRefundNo: r.str("outRefundNo"),
		TotalFee: r.fen("totalFee"), RefundFee: r.fen("refundFee"), Params: p,
	}
	if r.err == nil && req.TotalFee.Set && req.RefundFee.Set && req.TotalFee.Fen < req.RefundFee.Fen {
		r.err = BadRequest("parameter must not be less than refundFee: totalFee")
	}
	return req, r.err
}

// NewRefundQueryRequest reads refundQuery's members from p.
func NewRefundQueryRequest(p Params) (*RefundQueryRequest, error) {
	r := reader{p: p}
	req := &RefundQueryRequest{
		OrderRef: r.ref(), ClientType: r.str("clientType"), OutRefundNo: r.str("outRefundNo"),
		RefundID: r.str("refundId"), Params: p,
	}
	return req, r.err
}

// NewBillRequest reads downloadBill's members from p.
func NewBillRequest(p Params) (*BillRequest, error) {
	r := reader{p: p}
	req := &BillRequest{ClientType: r.str("clientType"), BillDate: r.str("billDate"), BillType: r.str("billType"), Params: p}
	return req, r.err
}

// NewFundflowRequest reads downloadFundflow's members from p.
func NewFundflowRequest(p Params) (*FundflowRequest, error) {
	r := reader{p: p}
	req := &FundflowRequest{ClientType: r.str("clientType"), BillDate: r.str("billDate"), AccountType: r.str("accountType"), Params: p}
	return req, r.err
}

// BillDate checks a bill date: yyyyMMdd, required.
func BillDate(d string) error {
	if d == "" {
		return Missing("billDate")
	}
	if len(d) != 8 || strings.TrimLeft(d, "0123456789") != "" {
		return BadRequest("parameter must be a date yyyyMMdd: billDate")
	}
	return nil
}
