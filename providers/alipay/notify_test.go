package alipay_test

import (
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-unicloud/unicloud/internal/vectors"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

type ntAlipayVector struct {
	PublicKeyFile string            `json:"public_key_file"`
	Params        map[string]string `json:"params"`
}

var (
	ntVecOnce  sync.Once
	ntVecDir   string
	ntVecTrade ntAlipayVector
	ntVecSM    ntAlipayVector
	ntVecErr   error
)

// ntVectors returns the two Alipay-ntSigned notifications of the published
// ntVectors (shared/ntVectors beside the repository, or UNICLOUD_VECTORS).
func ntVectors(tb testing.TB) (trade, serviceMarket ntAlipayVector) {
	tb.Helper()
	ntVecOnce.Do(func() {
		var err error
		if ntVecDir, err = vectors.Dir(); err != nil {
			ntVecErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(ntVecDir, "vectors.json"))
		if err != nil {
			ntVecErr = err
			return
		}
		var v struct {
			A struct {
				Trade ntAlipayVector `json:"trade_notification"`
				SM    ntAlipayVector `json:"servicemarket_notification"`
			} `json:"alipay_notifications"`
		}
		ntVecErr = json.Unmarshal(b, &v)
		ntVecTrade, ntVecSM = v.A.Trade, v.A.SM
	})
	if ntVecErr != nil {
		tb.Fatalf("published ntVectors: %v", ntVecErr)
	}
	return ntVecTrade, ntVecSM
}

func ntPublicKey(tb testing.TB, file string) *rsa.PublicKey {
	tb.Helper()
	ntVectors(tb)
	b, err := os.ReadFile(filepath.Join(ntVecDir, file))
	if err != nil {
		tb.Fatal(err)
	}
	k, err := signing.ParseRSAPublicKey(string(b))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func ntAppKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	ntVectors(tb)
	b, err := os.ReadFile(filepath.Join(ntVecDir, "keys/app-private-key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	k, err := signing.ParseRSAPrivateKey(string(b))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// ntForm encodes params the way Alipay posts them (url.Values: spaces as '+',
// '+' and '/' escaped), keys sorted.
func ntForm(params map[string]string) []byte {
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	return []byte(v.Encode())
}

func ntCopyParams(p map[string]string) map[string]string {
	c := make(map[string]string, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// ntSigned signs params with the ntVectors' app key standing in for Alipay's
// (verified with app-public-key), RSA2, the string without sign_type.
func ntSigned(tb testing.TB, params map[string]string) []byte {
	tb.Helper()
	p := ntCopyParams(params)
	delete(p, "sign")
	if p["sign_type"] == "" {
		p["sign_type"] = "RSA2"
	}
	s, err := signing.AlipaySign(ntAppKey(tb), []byte(signing.AlipaySignContent(p, false)), p["sign_type"])
	if err != nil {
		tb.Fatal(err)
	}
	p["sign"] = s
	return ntForm(p)
}

func ntCheckOf(err error) string {
	if err == nil {
		return ""
	}
	if ne, ok := err.(interface{ NotifyCheck() string }); ok {
		return ne.NotifyCheck()
	}
	return "not a NotifyError: " + err.Error()
}

func TestNotifyTradeVector(t *testing.T) {
	trade, _ := ntVectors(t)
	v := &alipay.NotifyVerifier{AppID: "2019073166072302", PublicKey: ntPublicKey(t, trade.PublicKeyFile)}
	n, err := v.Verify(ntForm(trade.Params))
	if err != nil {
		t.Fatal(err)
	}
	if n.Kind != alipay.NotifyPaymentKind {
		t.Fatalf("kind %s", n.Kind)
	}
	e := n.Event.(*alipay.NotifyPayment)
	got := *e
	got.Raw = nil
	want := alipay.NotifyPayment{Provider: "alipay", Type: "payment", OutTradeNo: "20190815155618536-564-57",
		TransactionID: "2019081522001468450512505578", TotalFee: 10, CashFee: 10, FeeType: "CNY",
		TimeEnd: "20190815155624", OpenID: "2088102534368455", TradeState: "SUCCESS"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event\n got %+v\nwant %+v", got, want)
	}
	if e.Raw["appId"] != "2019073166072302" || e.Raw["subject"] != "语雀空间 500人规模" ||
		e.Raw["fundBillList"] != `[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]` || e.Raw["signType"] != "RSA2" {
		t.Errorf("raw %v", e.Raw)
	}
	if _, ok := e.Raw["sign"]; ok {
		t.Error("raw keeps sign")
	}

	// The body as Alipay's servers encode it by hand (%20, lowercase hex)
	// decodes to the same values.
	var parts []string
	for k, val := range trade.Params {
		parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(val), "+", "%20"))
	}
	sort.Strings(parts)
	if _, err := v.Verify([]byte(strings.Join(parts, "&"))); err != nil {
		t.Errorf("%%20 encoding: %v", err)
	}
}

func TestNotifyTradeVectorRefused(t *testing.T) {
	trade, _ := ntVectors(t)
	pub := ntPublicKey(t, trade.PublicKeyFile)
	with := func(k, val string) []byte {
		p := ntCopyParams(trade.Params)
		if val == "" {
			delete(p, k)
		} else {
			p[k] = val
		}
		return ntForm(p)
	}
	v := &alipay.NotifyVerifier{AppID: "2019073166072302", PublicKey: pub}
	good := ntForm(trade.Params)
	for _, tc := range []struct {
		name  string
		v     *alipay.NotifyVerifier
		body  []byte
		check string
	}{
		{"tampered amount", v, with("total_amount", "100.00"), alipay.CheckSignature},
		{"tampered out_trade_no", v, with("out_trade_no", "x"), alipay.CheckSignature},
		{"added field", v, with("extra", "1"), alipay.CheckSignature},
		{"missing sign", v, with("sign", ""), alipay.CheckSignature},
		{"sign_type RSA", v, with("sign_type", "RSA"), alipay.CheckSignature},
		{"sign_type MD5", v, with("sign_type", "MD5"), alipay.CheckSignature},
		{"wrong key", &alipay.NotifyVerifier{PublicKey: ntPublicKey(t, "keys/app-public-key.pem")}, good, alipay.CheckSignature},
		{"no key", &alipay.NotifyVerifier{}, good, alipay.CheckSignature},
		{"wrong app_id", &alipay.NotifyVerifier{AppID: "2021000000000000", PublicKey: pub}, good, alipay.CheckMerchant},
		{"double encoded", v, []byte(url.QueryEscape(string(good))), alipay.CheckSignature},
		{"decoded twice", v, []byte(strings.ReplaceAll(string(good), "%2B", "%252B")), alipay.CheckSignature},
		{"repeated field", v, append(append([]byte{}, good...), "&total_amount=0.10"...), alipay.CheckMalformed},
		{"semicolon", v, append(append([]byte{}, good...), ";x=1"...), alipay.CheckMalformed},
		{"bad escape", v, append(append([]byte{}, good...), "&x=%zz"...), alipay.CheckMalformed},
		{"garbage", v, []byte("\x00\xff"), alipay.CheckSignature},
		{"empty", v, nil, alipay.CheckMalformed},
		{"json", v, []byte(`{"sign":"x"}`), alipay.CheckSignature},
		{"xml", v, []byte(`<xml/>`), alipay.CheckSignature},
	} {
		if n, err := tc.v.Verify(tc.body); n != nil || ntCheckOf(err) != tc.check {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.check)
		}
	}
}

// The servicemarket notification is signed with sign_type kept: it
// verifies, and reaches the backend as an event with its order number,
// amount and time, everything else in raw.
func TestNotifyServiceMarketVector(t *testing.T) {
	_, sm := ntVectors(t)
	v := &alipay.NotifyVerifier{AppID: "2017122801303261", PublicKey: ntPublicKey(t, sm.PublicKeyFile)}
	n, err := v.Verify(ntForm(sm.Params))
	if err != nil {
		t.Fatalf("servicemarket notification refused: %v", err)
	}
	ev, ok := n.Event.(*alipay.NotifyPayment)
	if !ok || n.Kind != alipay.NotifyPaymentKind || ev.OutTradeNo != "2019030800000018079639" || ev.TotalFee != 0 ||
		ev.TimeEnd != "20190308102023" || ev.Raw["notifyType"] != "servicemarket_order_notify" || ev.Raw["title"] != "麦禾商城模版" {
		t.Fatalf("event %+v", n.Event)
	}
	p := ntCopyParams(sm.Params)
	p["title"] = "x"
	if _, err := v.Verify(ntForm(p)); ntCheckOf(err) != alipay.CheckSignature {
		t.Fatalf("tampered: %v", err)
	}
}

func ntTradeParams() map[string]string {
	return map[string]string{
		"app_id":         "2021000117650139",
		"auth_app_id":    "2021000117650139",
		"notify_type":    "trade_status_sync",
		"notify_id":      "2023091200222102503094341416459999",
		"notify_time":    "2023-09-12 10:25:04",
		"charset":        "utf-8",
		"version":        "1.0",
		"trade_no":       "2023091222001494341416459999",
		"out_trade_no":   "ORDER-1+2 3",
		"buyer_open_id":  "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5",
		"buyer_id":       "2088102177846880",
		"trade_status":   "TRADE_SUCCESS",
		"total_amount":   "1234.56",
		"receipt_amount": "1200.00",
		"subject":        "a+b c&d=e/f",
		"gmt_create":     "2023-09-12 10:25:00",
		"gmt_payment":    "2023-09-12 10:25:03",
	}
}

func TestNotifyTradeSigned(t *testing.T) {
	v := &alipay.NotifyVerifier{AppID: "2021000117650139", PublicKey: ntPublicKey(t, "keys/app-public-key.pem")}
	for status, state := range map[string]string{"TRADE_SUCCESS": "SUCCESS", "TRADE_FINISHED": "FINISHED",
		"TRADE_CLOSED": "CLOSED", "WAIT_BUYER_PAY": "USERPAYING", "OTHER": "OTHER"} {
		p := ntTradeParams()
		p["trade_status"] = status
		n, err := v.Verify(ntSigned(t, p))
		if err != nil {
			t.Fatal(err)
		}
		e := n.Event.(*alipay.NotifyPayment)
		if e.TradeState != state || e.TotalFee != 123456 || e.CashFee != 120000 || e.TimeEnd != "20230912102503" ||
			e.OpenID != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || e.OutTradeNo != "ORDER-1+2 3" ||
			e.Raw["subject"] != "a+b c&d=e/f" {
			t.Errorf("%s: %+v", status, e)
		}
	}
	// Without receipt_amount or gmt_payment (a trade not paid yet).
	p := ntTradeParams()
	p["trade_status"] = "WAIT_BUYER_PAY"
	delete(p, "receipt_amount")
	delete(p, "gmt_payment")
	delete(p, "buyer_open_id")
	n, err := v.Verify(ntSigned(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if e := n.Event.(*alipay.NotifyPayment); e.CashFee != 0 || e.TimeEnd != "" || e.OpenID != "2088102177846880" {
		t.Errorf("%+v", e)
	}
	// Bad values, properly ntSigned.
	for field, val := range map[string]string{"total_amount": "1.234", "receipt_amount": "-1.00", "gmt_payment": "2023/09/12"} {
		p := ntTradeParams()
		p[field] = val
		if _, err := v.Verify(ntSigned(t, p)); ntCheckOf(err) != alipay.CheckMalformed {
			t.Errorf("%s=%s: %v", field, val, err)
		}
	}
	p = ntTradeParams()
	delete(p, "total_amount")
	if _, err := v.Verify(ntSigned(t, p)); ntCheckOf(err) != alipay.CheckMalformed {
		t.Errorf("no total_amount: %v", err)
	}
}

func TestNotifyRefund(t *testing.T) {
	v := &alipay.NotifyVerifier{AppID: "2021000117650139", PublicKey: ntPublicKey(t, "keys/app-public-key.pem")}
	for name, f := range map[string]func(p map[string]string){
		"refund_fee and gmt_refund": func(p map[string]string) {},
		"refund_fee only":           func(p map[string]string) { delete(p, "gmt_refund") },
		"gmt_refund only":           func(p map[string]string) { delete(p, "refund_fee") },
	} {
		p := ntTradeParams()
		p["trade_status"] = "TRADE_CLOSED"
		p["refund_fee"] = "0.10"
		p["gmt_refund"] = "2023-09-13 08:00:00.123"
		p["out_biz_no"] = "REFUND-1"
		f(p)
		n, err := v.Verify(ntSigned(t, p))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n.Kind != alipay.NotifyRefundKind {
			t.Fatalf("%s: kind %s", name, n.Kind)
		}
		e := n.Event.(*alipay.NotifyRefund)
		got := *e
		got.Raw = nil
		want := alipay.NotifyRefund{Provider: "alipay", Type: "refund", OutTradeNo: "ORDER-1+2 3",
			TransactionID: "2023091222001494341416459999", OutRefundNo: "REFUND-1", TotalFee: 123456,
			RefundFee: 10, SettlementTotalFee: 120000, SettlementRefundFee: 10, RefundStatus: "SUCCESS"}
		if p["refund_fee"] == "" {
			want.RefundFee, want.SettlementRefundFee = 0, 0
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// RSA (SHA1withRSA) notifications are still verified when sign_type says so.
func TestNotifyRSA1(t *testing.T) {
	p := ntTradeParams()
	p["sign_type"] = "RSA"
	v := &alipay.NotifyVerifier{PublicKey: ntPublicKey(t, "keys/app-public-key.pem")}
	if _, err := v.Verify(ntSigned(t, p)); err != nil {
		t.Fatal(err)
	}
}

func TestParseNotifyForm(t *testing.T) {
	m, err := alipay.ParseNotifyForm([]byte("a=1+2&b=%2B%26%3D&c=&d&&e=%E4%B8%AD"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1 2", "b": "+&=", "c": "", "d": "", "e": "中"}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("%q", m)
	}
	for _, in := range []string{"", "&&", "=1", "a=1&a=2", "a=%", "a=%g0", "a=1;b=2",
		strings.Repeat("k", 1<<20+1), strings.Repeat("&x", 1) + ntManyFields(201)} {
		if m, err := alipay.ParseNotifyForm([]byte(in)); err == nil {
			t.Errorf("%.40q accepted: %v", in, m)
		}
	}
}

func ntManyFields(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&f")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(string(rune('a' + i/26)))
		b.WriteString("=1")
	}
	return b.String()
}

func TestYuanToFen(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "0.0": 0, "0.00": 0, "0.01": 1, "0.1": 10, "0.10": 10, "1": 100, "1.00": 100, "10": 1000,
		"100": 10000, "1234.56": 123456, "1234.5": 123450, "9999999.99": 999999999,
		"100000000.00": 10000000000, "9999999999999999.99": 999999999999999999,
	} {
		got, err := alipay.YuanToFen(in)
		if err != nil || got != want {
			t.Errorf("YuanToFen(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "1.", ".5", "1.234", "0.001", "-1", "-0.01", "+1", "1e2", "1E2",
		"0x10", " 1", "1 ", "1,00", "01", "00.10", "1.2.3", "１", "NaN", "Inf", "10000000000000000",
		"1_000"} {
		if got, err := alipay.YuanToFen(in); err == nil {
			t.Errorf("YuanToFen(%q) = %d, want an error", in, got)
		}
	}
}

func TestFenToYuan(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0.00", 1: "0.01", 10: "0.10", 100: "1.00", 123456: "1234.56", 999999999: "9999999.99",
		-1: "-0.01", -123456: "-1234.56",
	} {
		if got := alipay.FenToYuan(in); got != want {
			t.Errorf("FenToYuan(%d) = %q, want %q", in, got, want)
		}
	}
	for _, fen := range []int64{0, 1, 9, 10, 99, 100, 101, 123456, 999999999, 1<<55 + 7} {
		if back, err := alipay.YuanToFen(alipay.FenToYuan(fen)); err != nil || back != fen {
			t.Errorf("round trip %d: %d, %v", fen, back, err)
		}
	}
}

func FuzzYuanToFen(f *testing.F) {
	for _, s := range []string{"0.10", "1234.56", "1.234", "-1", "1e2", "9999999999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := alipay.YuanToFen(s)
		if err != nil {
			return
		}
		if fen < 0 {
			t.Fatalf("%q → %d", s, fen)
		}
		// Canonical forms round-trip exactly.
		if y := alipay.FenToYuan(fen); strings.Contains(s, ".") && len(s)-strings.IndexByte(s, '.') == 3 && y != s {
			t.Fatalf("%q → %d → %q", s, fen, y)
		}
		// Every accepted amount goes back and forth, and is exactly the
		// decimal amount ×100 (math/big reads it independently).
		if back, err := alipay.YuanToFen(alipay.FenToYuan(fen)); err != nil || back != fen {
			t.Fatalf("%q → %d → %q → %d, %v", s, fen, alipay.FenToYuan(fen), back, err)
		}
		if r, ok := new(big.Rat).SetString(s); ok {
			if want := new(big.Rat).Mul(r, big.NewRat(100, 1)); !want.IsInt() || want.Num().Cmp(big.NewInt(fen)) != 0 {
				t.Fatalf("%q → %d fen, but it is %s fen", s, fen, want.RatString())
			}
		}
	})
}

// Alipay signs no empty value: empty fields appended to a genuine
// notification verify, but are dropped: not in raw, and an empty gmt_refund
// or refund_fee does not turn a payment into a refund.
func TestNotifyEmptyFieldsDropped(t *testing.T) {
	trade, _ := ntVectors(t)
	v := &alipay.NotifyVerifier{AppID: "2019073166072302", PublicKey: ntPublicKey(t, trade.PublicKeyFile)}
	body := append(ntForm(trade.Params), "&x=&gmt_refund=&refund_fee=&out_biz_no="...)
	n, err := v.Verify(body)
	if err != nil {
		t.Fatal(err)
	}
	if n.Kind != alipay.NotifyPaymentKind {
		t.Fatalf("kind %s, want payment", n.Kind)
	}
	e := n.Event.(*alipay.NotifyPayment)
	if e.Type != "payment" || e.TotalFee != 10 {
		t.Errorf("event %+v", e)
	}
	for _, k := range []string{"x", "gmtRefund", "refundFee", "outBizNo"} {
		if _, ok := e.Raw[k]; ok {
			t.Errorf("raw holds the unsigned empty field %s", k)
		}
	}
	if len(e.Raw) != len(trade.Params)-1 {
		t.Errorf("raw has %d fields, want the %d signed ones", len(e.Raw), len(trade.Params)-1)
	}
}
