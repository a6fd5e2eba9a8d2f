package pay

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func params(t *testing.T, body string) Params {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return NewParams(m)
}

// The shared members are typed once for every provider: ids as strings
// (numbers as written), amounts in integer fen, snake_case names read as
// camelCase; the caller's parameters stay for the provider to pass on.
func TestNewRefundRequest(t *testing.T) {
	in := params(t, `{"out_trade_no":20150320010101001,"outRefundNo":"R1","totalFee":"100","refundFee":60,"clientType":"h5-weixin","opUserId":"u1"}`)
	req, err := NewRefundRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	if req.OutTradeNo != "20150320010101001" || req.TransactionID != "" || req.OutRefundNo != "R1" || req.ClientType != "h5-weixin" ||
		req.TotalFee != (Amount{100, true}) || req.RefundFee != (Amount{60, true}) || req.Params["opUserId"] != "u1" {
		t.Fatalf("request = %+v", req)
	}
	if field, id, err := req.ID(); field != "outTradeNo" || id != "20150320010101001" || err != nil {
		t.Fatalf("ID = %s %s %v", field, id, err)
	}
	for body, want := range map[string]string{
		`{"outTradeNo":{"a":1}}`:                "parameter must be a string: outTradeNo",
		`{"transactionId":["x"]}`:               "parameter must be a string: transactionId",
		`{"refundFee":0.5}`:                     "parameter must be an integer number of fen: refundFee",
		`{"totalFee":"1.00"}`:                   "parameter must be an integer number of fen: totalFee",
		`{"totalFee":-1}`:                       "parameter must be an integer number of fen: totalFee",
		`{"totalFee":1e2}`:                      "parameter must be an integer number of fen: totalFee",
		`{"totalFee":50,"refundFee":60}`:        "parameter must not be less than refundFee: totalFee",
		`{"outRefundNo":true}`:                  "parameter must be a string: outRefundNo",
		`{"refundFee":1000000000001}`:           "parameter must be at most 1000000000000: refundFee",
		`{"refundFee":"99999999999999999999"}`:  "parameter must be at most 1000000000000: refundFee",
		`{"refundFee":"0001000000000000"}`:      "",
		`{"totalFee":60,"refundFee":60}`:        "",
		`{"outTradeNo":"T","refundFee":"0001"}`: "",
	} {
		_, err := NewRefundRequest(params(t, body))
		var pe *Error
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", body, err)
		case want != "" && (!errors.As(err, &pe) || pe.Kind != ErrBadRequest || pe.Msg != want):
			t.Errorf("%s: %v; want bad request %q", body, err, want)
		}
	}
}

// Each call's request reads its own members.
func TestNewRequests(t *testing.T) {
	in := params(t, `{"transactionId":"4200","outTradeNo":"T1","outRefundNo":"R1","refundId":"5000","billDate":"20260102","billType":"SUCCESS","accountType":"Operation","clientType":"app-plus"}`)
	q, err := NewOrderQueryRequest(in)
	if err != nil || q.OrderRef != (OrderRef{"4200", "T1"}) || q.ClientType != "app-plus" {
		t.Fatalf("orderQuery %+v %v", q, err)
	}
	if field, id, _ := q.ID(); field != "transactionId" || id != "4200" {
		t.Fatalf("the provider's id comes first: %s %s", field, id)
	}
	c, err := NewCloseOrderRequest(in)
	if err != nil || c.OutTradeNo != "T1" {
		t.Fatalf("closeOrder %+v %v", c, err)
	}
	x, err := NewCancelOrderRequest(in)
	if err != nil || x.TransactionID != "4200" {
		t.Fatalf("cancelOrder %+v %v", x, err)
	}
	rq, err := NewRefundQueryRequest(in)
	if err != nil || rq.OutRefundNo != "R1" || rq.RefundID != "5000" || rq.OutTradeNo != "T1" {
		t.Fatalf("refundQuery %+v %v", rq, err)
	}
	b, err := NewBillRequest(in)
	if err != nil || b.BillDate != "20260102" || b.BillType != "SUCCESS" || b.ClientType != "app-plus" {
		t.Fatalf("downloadBill %+v %v", b, err)
	}
	f, err := NewFundflowRequest(in)
	if err != nil || f.BillDate != "20260102" || f.AccountType != "Operation" {
		t.Fatalf("downloadFundflow %+v %v", f, err)
	}
	for name, read := range map[string]func(Params) error{
		"orderQuery":  func(p Params) error { _, err := NewOrderQueryRequest(p); return err },
		"closeOrder":  func(p Params) error { _, err := NewCloseOrderRequest(p); return err },
		"cancelOrder": func(p Params) error { _, err := NewCancelOrderRequest(p); return err },
		"refundQuery": func(p Params) error { _, err := NewRefundQueryRequest(p); return err },
	} {
		if err := read(params(t, `{"outTradeNo":{}}`)); err == nil || !strings.Contains(err.Error(), "outTradeNo") {
			t.Errorf("%s: an object as outTradeNo: %v", name, err)
		}
	}
	if _, err := NewBillRequest(params(t, `{"billDate":[20260102]}`)); err == nil {
		t.Error("downloadBill: an array as billDate accepted")
	}
	if _, _, err := (OrderRef{}).ID(); err == nil || err.Error() != "bad request: missing required parameter: transactionId or outTradeNo" {
		t.Errorf("no id: %v", err)
	}
}

func TestAmountPositiveAndBillDate(t *testing.T) {
	if _, err := (Amount{}).Positive("totalFee"); err == nil || !strings.Contains(err.Error(), "missing required parameter: totalFee") {
		t.Errorf("absent: %v", err)
	}
	if _, err := (Amount{0, true}).Positive("totalFee"); err == nil || !strings.Contains(err.Error(), "at least 1 fen: totalFee") {
		t.Errorf("zero: %v", err)
	}
	if n, err := (Amount{7, true}).Positive("totalFee"); n != 7 || err != nil {
		t.Errorf("7: %d %v", n, err)
	}
	for d, ok := range map[string]bool{"20260102": true, "": false, "2026-01-02": false, "2026010": false, "202601021": false, "2026010a": false} {
		if err := BillDate(d); (err == nil) != ok {
			t.Errorf("BillDate(%q) = %v", d, err)
		}
	}
}
