package xpay

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

func TestBuildRequest(t *testing.T) {
	cases := []struct {
		call string
		p    pay.Params
		want string
	}{
		{"queryUserBalance", pay.Params{"openid": "o1", "userIp": "127.0.0.1", "env": n("1")},
			`{"env":0,"openid":"o1","user_ip":"127.0.0.1"}`},
		{"currencyPay", pay.Params{"openid": "o1", "userIp": "1.2.3.4", "amount": "10", "orderId": "c1", "payitem": "x"},
			`{"amount":10,"env":0,"openid":"o1","order_id":"c1","payitem":"x","user_ip":"1.2.3.4"}`},
		{"orderQuery", pay.Params{"openid": "o1", "outTradeNo": "o1"}, `{"env":0,"openid":"o1","order_id":"o1"}`},
		{"queryOrder", pay.Params{"transactionId": "w1"}, `{"env":0,"wx_order_id":"w1"}`},
		{"notifyProvideGoods", pay.NewParams(map[string]any{"order_id": "o1"}), `{"env":0,"order_id":"o1"}`},
		{"refund", pay.Params{"openid": "o1", "outTradeNo": "t1", "outRefundNo": "r1", "leftFee": n("100"),
			"refundFee": "100", "refundReason": "0", "reqFrom": "1", "bizMeta": "中<>"},
			`{"biz_meta":"中<>","env":0,"left_fee":100,"openid":"o1","order_id":"t1","refund_fee":100,"refund_order_id":"r1","refund_reason":"0","req_from":"1"}`},
		{"downloadBill", pay.Params{"billDate": "20240102"}, `{"begin_ds":20240102,"end_ds":20240102,"env":0}`},
		{"downloadBill", pay.Params{"beginDs": n("20240101"), "endDs": "20240102"}, `{"begin_ds":20240101,"end_ds":20240102,"env":0}`},
		{"createWithdrawOrder", pay.Params{"withdrawNo": "w1", "withdrawAmount": n("1")},
			`{"env":0,"withdraw_amount":"0.01","withdraw_no":"w1"}`},
		{"createWithdrawOrder", pay.Params{"withdrawNo": "w1"}, `{"env":0,"withdraw_no":"w1"}`},
		{"startUploadGoods", pay.Params{"uploadItem": []any{map[string]any{"id": "p1", "name": "n", "price": n("100"),
			"itemUrl": "https://x/a.png"}}},
			`{"env":0,"upload_item":[{"id":"p1","item_url":"https://x/a.png","name":"n","price":100}]}`},
	}
	for _, tc := range cases {
		api, err := Lookup(tc.call)
		if err != nil {
			t.Fatal(err)
		}
		got, err := BuildRequest(api, tc.p, EnvProduction)
		if err != nil {
			t.Errorf("%s: %v", tc.call, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.call, got, tc.want)
		}
	}
}

func TestBuildRequestRefuses(t *testing.T) {
	cases := []struct {
		call string
		p    pay.Params
		name string
	}{
		{"currencyPay", pay.Params{"openid": "o1", "orderId": "c1", "amount": n("1.5")}, "amount"},
		{"currencyPay", pay.Params{"openid": "o1", "orderId": "c1", "amount": n("-1")}, "amount"},
		{"currencyPay", pay.Params{"openid": "o1", "orderId": "c1", "amount": "1.00"}, "amount"},
		{"currencyPay", pay.Params{"openid": "o1", "orderId": "c1", "amount": n("0")}, "amount"},
		{"currencyPay", pay.Params{"openid": "o1", "orderId": "c1"}, "amount"},
		{"queryUserBalance", pay.Params{}, "openid"},
		{"refund", pay.Params{"openid": "o1", "outTradeNo": "t1", "outRefundNo": "r1", "leftFee": n("100"),
			"refundFee": n("1e2")}, "refundFee"},
		{"orderQuery", pay.Params{}, "outTradeNo"},
		{"orderQuery", pay.Params{"outTradeNo": "a", "orderId": "b"}, "not both"},
		{"createWithdrawOrder", pay.Params{"withdrawNo": "w1", "withdrawAmount": 1.5}, "withdrawAmount"},
		{"downloadBill", pay.Params{"billDate": "2024-01-02"}, "billDate"},
	}
	for _, tc := range cases {
		api, _ := Lookup(tc.call)
		_, err := BuildRequest(api, tc.p, EnvProduction)
		if !errors.Is(err, pay.ErrBadRequest) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s %v: err = %v, want a bad request naming %s", tc.call, tc.p, err, tc.name)
		}
	}
}

func TestYuan(t *testing.T) {
	for fen, yuan := range map[int64]string{1: "0.01", 10: "0.10", 100: "1.00", 12345: "123.45", 0: "0.00"} {
		if got := FenToYuan(fen); got != yuan {
			t.Errorf("FenToYuan(%d) = %s, want %s", fen, got, yuan)
		}
		if got, ok := YuanToFen(yuan); !ok || got != fen {
			t.Errorf("YuanToFen(%s) = %d, %v", yuan, got, ok)
		}
	}
	for s, fen := range map[string]int64{"5": 500, "0.1": 10, "12.3": 1230} {
		if got, ok := YuanToFen(s); !ok || got != fen {
			t.Errorf("YuanToFen(%s) = %d, %v, want %d", s, got, ok, fen)
		}
	}
	for _, s := range []string{"", ".5", "1.", "1.005", "-1", "1e2", "0x1", "1,00", "99999999999.99"} {
		if _, ok := YuanToFen(s); ok {
			t.Errorf("YuanToFen(%q) accepted", s)
		}
	}
}

func TestMapAnswer(t *testing.T) {
	api, _ := Lookup("orderQuery")
	ans, err := MapAnswer(api, []byte(`{"errcode":0,"errmsg":"ok","order":{"order_id":"o1","wx_order_id":"w1","left_fee":100,"biz_meta":"m","env_type":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ans)
	if want := `{"order":{"bizMeta":"m","envType":1,"leftFee":100,"orderId":"o1","wxOrderId":"w1"}}`; string(got) != want {
		t.Errorf("answer = %s, want %s", got, want)
	}

	_, err = MapAnswer(api, []byte(`{"errcode":268490003,"errmsg":"签名错误"}`))
	var xe *Error
	if !errors.As(err, &xe) || xe.Code != 268490003 || xe.Msg != "签名错误" {
		t.Errorf("err = %v, want *Error 268490003", err)
	}
	if _, err = MapAnswer(api, []byte(`<html>`)); !errors.Is(err, pay.ErrUpstream) {
		t.Errorf("not JSON: err = %v", err)
	}

	wd, _ := Lookup("queryWithdrawOrder")
	ans, err = MapAnswer(wd, []byte(`{"errcode":0,"withdraw_no":"w1","withdraw_amount":"12.34","status":2}`))
	if err != nil || ans["withdrawAmount"] != json.Number("1234") {
		t.Errorf("withdraw answer = %v, %v; want withdrawAmount 1234 fen", ans, err)
	}
	if _, err = MapAnswer(wd, []byte(`{"errcode":0,"withdraw_amount":"1.234"}`)); !errors.Is(err, pay.ErrUpstream) {
		t.Errorf("bad yuan: err = %v", err)
	}
}

// recordCaller is a Caller that remembers what it was given.
type recordCaller struct {
	path   string
	query  url.Values
	body   []byte
	answer string
	calls  int
}

func (r *recordCaller) Post(_ context.Context, path string, query url.Values, body []byte) ([]byte, error) {
	r.calls++
	r.path, r.query, r.body = path, query, body
	return []byte(r.answer), nil
}

func TestCallSignsTheSentBytes(t *testing.T) {
	rc := &recordCaller{answer: `{"errcode":0,"errmsg":"ok","balance":5,"present_balance":1}`}
	c := &Client{Config: Config{AppID: "wxapp", OfferID: "1", Env: EnvSandbox, AppKey: "prod", SandboxAppKey: "sand"},
		Caller: rc, Sessions: keys{"wxapp/o1": "sk=="}}
	ans, err := c.Call(context.Background(), "queryUserBalance", pay.Params{"openid": "o1", "userIp": "1.1.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	if ans["balance"] != json.Number("5") || ans["presentBalance"] != json.Number("1") {
		t.Errorf("answer = %v", ans)
	}
	if rc.path != "/xpay/query_user_balance" || string(rc.body) != `{"env":1,"openid":"o1","user_ip":"1.1.1.1"}` {
		t.Errorf("sent %s %s", rc.path, rc.body)
	}
	if rc.query.Get("pay_sig") != PaySig("sand", rc.path, rc.body) || rc.query.Get("signature") != Signature("sk==", rc.body) {
		t.Errorf("query %v not signed over the sent bytes with the sandbox key", rc.query)
	}

	// pay_sig only: no signature, no session key needed.
	if _, err := c.Call(context.Background(), "presentCurrency", pay.Params{"openid": "o9", "orderId": "p1", "amount": n("3")}); err != nil {
		t.Fatal(err)
	}
	if rc.query.Get("pay_sig") == "" || rc.query.Has("signature") {
		t.Errorf("presentCurrency query = %v", rc.query)
	}

	rc.calls = 0
	for call, kind := range map[string]error{"queryUserBalance": ErrSessionKeyNotFound, "closeOrder": pay.ErrNotSupported,
		"downloadFundflow": pay.ErrNotSupported, "nope": ErrUnknownCall} {
		_, err := c.Call(context.Background(), call, pay.Params{"openid": "o2"})
		if !errors.Is(err, kind) {
			t.Errorf("%s: err = %v, want %v", call, err, kind)
		}
	}
	if rc.calls != 0 {
		t.Errorf("%d requests sent for refused calls", rc.calls)
	}
}
