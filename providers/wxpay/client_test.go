package wxpay_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/vectors"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	payAppID = "wx2421b1c4370ec43b"
	payMchID = "10000100"
	payKey   = "test-apiv2-key-0123456789abcdefgh"
)

// payVectorFile finds a file of the published vectors (shared/vectors
// beside the repository, or UNICLOUD_VECTORS). Missing vectors fail the
// test.
func payVectorFile(tb testing.TB, name string) []byte {
	tb.Helper()
	return vectors.Read(tb, name)
}

type v2SignVector struct {
	Params     map[string]string `json:"params"`
	Key        string            `json:"key"`
	MD5        string            `json:"md5"`
	HMACSHA256 string            `json:"hmac_sha256"`
}

func payV2Vector(tb testing.TB) v2SignVector {
	var v struct {
		V v2SignVector `json:"wxpay_v2_sign"`
	}
	if err := json.Unmarshal(payVectorFile(tb, "vectors.json"), &v); err != nil {
		tb.Fatal(err)
	}
	return v.V
}

func payOK(fields map[string]string) map[string]string {
	out := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS",
		"appid": payAppID, "mch_id": payMchID, "nonce_str": signing.NonceStr(),
	}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// The request of the published v2 example (安全规范) carries the published
// signature, MD5 and HMAC-SHA256.
func TestRequestSignatureVector(t *testing.T) {
	vec := payV2Vector(t)
	for _, tc := range []struct{ signType, want string }{
		{signing.SignTypeMD5, vec.MD5},
		{signing.SignTypeHMACSHA256, vec.HMACSHA256},
	} {
		c := &wxpay.Client{
			AppID: vec.Params["appid"], MchID: vec.Params["mch_id"], Key: vec.Key, SignType: tc.signType,
			Nonce: func() string { return vec.Params["nonce_str"] },
		}
		params := map[string]string{"device_info": vec.Params["device_info"], "body": vec.Params["body"]}
		body, err := c.Request(wxpay.APIUnifiedOrder, params, vec.Key, tc.signType)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wxpay.ParseNotifyXML(body, "xml")
		if err != nil {
			t.Fatal(err)
		}
		if tc.signType == signing.SignTypeHMACSHA256 {
			// sign_type is itself signed: the published HMAC value is for the
			// five fields, so check the digest without it too.
			if got["sign_type"] != tc.signType {
				t.Fatalf("sign_type %q", got["sign_type"])
			}
			delete(got, "sign_type")
			s, _ := signing.WxpayV2Sign(got, vec.Key, tc.signType)
			if s != tc.want {
				t.Errorf("HMAC-SHA256 over the example = %s, want %s", s, tc.want)
			}
			continue
		}
		if got["sign"] != tc.want {
			t.Errorf("%s sign = %s, want %s", tc.signType, got["sign"], tc.want)
		}
	}
}

func TestRequestRefusesBadNames(t *testing.T) {
	c := &wxpay.Client{AppID: payAppID, MchID: payMchID, Key: payKey}
	for _, k := range []string{"a><b", "", "1abc", "a b", "ключ"} {
		_, err := c.Request(wxpay.APIOrderQuery, map[string]string{k: "x"}, payKey, signing.SignTypeMD5)
		var pe *wxpay.ParamError
		if !errors.As(err, &pe) {
			t.Errorf("name %q: err %v, want a ParamError", k, err)
		}
	}
}

func TestRequestEscapesCDATA(t *testing.T) {
	c := &wxpay.Client{AppID: payAppID, MchID: payMchID, Key: payKey}
	body, err := c.Request(wxpay.APIUnifiedOrder, map[string]string{"body": "a]]><x>b</x>"}, payKey, signing.SignTypeMD5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wxpay.ParseNotifyXML(body, "xml")
	if err != nil {
		t.Fatal(err)
	}
	if got["body"] != "a]]><x>b</x>" {
		t.Errorf("body = %q", got["body"])
	}
	if err := signing.WxpayV2Verify(got, payKey); err != nil {
		t.Error(err)
	}
}

func TestUnifiedOrderAndOrderInfo(t *testing.T) {
	for _, signType := range []string{signing.SignTypeMD5, signing.SignTypeHMACSHA256} {
		f := newV2Fake(t, signType)
		f.v2Answer = func(path string, req map[string]string) (map[string]string, bool) {
			if path != "/pay/unifiedorder" {
				t.Errorf("path %s", path)
			}
			return payOK(map[string]string{
				"trade_type": req["trade_type"], "prepay_id": "wx201410272009395522657a690389285100",
				"code_url": "weixin://wxpay/bizpayurl/up?pr=NwY5Mz9&groupid=00", "mweb_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=x",
			}), true
		}
		c := f.v2Client()
		c.Now = func() time.Time { return time.Unix(1414561699, 0) }
		params := map[string]string{"body": "腾讯充值中心-QQ会员充值", "out_trade_no": "1415659990", "total_fee": "1",
			"spbill_create_ip": "14.23.150.211", "notify_url": "https://example.com/notify", "trade_type": "JSAPI", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
		ans, err := c.Call(context.Background(), wxpay.APIUnifiedOrder, params)
		if err != nil {
			t.Fatal(err)
		}
		sent := f.lastReq().Fields
		for k, v := range params {
			if sent[k] != v {
				t.Errorf("request %s = %q, want %q", k, sent[k], v)
			}
		}
		if sent["appid"] != payAppID || sent["mch_id"] != payMchID || len(sent["nonce_str"]) != 32 {
			t.Errorf("request identity: %v", sent)
		}

		info, err := c.OrderInfo(context.Background(), "mp-weixin", ans)
		if err != nil {
			t.Fatal(err)
		}
		if info["appId"] != payAppID || info["package"] != "prepay_id=wx201410272009395522657a690389285100" ||
			info["timeStamp"] != "1414561699" || info["signType"] != signType || len(info["nonceStr"]) != 32 {
			t.Errorf("mp-weixin orderInfo %v", info)
		}
		signed := map[string]string{"appId": info["appId"], "timeStamp": info["timeStamp"], "nonceStr": info["nonceStr"],
			"package": info["package"], "signType": info["signType"], "sign": info["paySign"]}
		if err := signing.WxpayV2VerifyType(signed, payKey, signType); err != nil {
			t.Errorf("mp-weixin paySign: %v", err)
		}

		info, err = c.OrderInfo(context.Background(), "app-plus", ans)
		if err != nil {
			t.Fatal(err)
		}
		if info["appid"] != payAppID || info["partnerid"] != payMchID || info["prepayid"] != "wx201410272009395522657a690389285100" ||
			info["package"] != "Sign=WXPay" || info["timestamp"] != "1414561699" || len(info) != 7 {
			t.Errorf("app-plus orderInfo %v", info)
		}
		if err := signing.WxpayV2VerifyType(info, payKey, signType); err != nil {
			t.Errorf("app-plus sign: %v", err)
		}

		if info, _ := c.OrderInfo(context.Background(), "native", ans); info["codeUrl"] != ans["code_url"] || len(info) != 1 {
			t.Errorf("native orderInfo %v", info)
		}
		if info, _ := c.OrderInfo(context.Background(), "h5", ans); info["mwebUrl"] != ans["mweb_url"] || len(info) != 1 {
			t.Errorf("h5 orderInfo %v", info)
		}
		if _, err := c.OrderInfo(context.Background(), "mp-alipay", ans); err == nil {
			t.Error("mp-alipay orderInfo from WeChat Pay")
		}
	}
}

func TestAnswerChecks(t *testing.T) {
	cases := []struct {
		name   string
		answer func() (map[string]string, bool)
		check  func(t *testing.T, err error)
	}{
		{"return FAIL unsigned", func() (map[string]string, bool) {
			return map[string]string{"return_code": "FAIL", "return_msg": "签名错误"}, false
		}, func(t *testing.T, err error) {
			var be *wxpay.BusinessError
			if !errors.As(err, &be) || be.Code != "FAIL" || be.Msg != "签名错误" {
				t.Errorf("err %v", err)
			}
		}},
		{"result FAIL signed", func() (map[string]string, bool) {
			a := payOK(map[string]string{"result_code": "FAIL", "err_code": "ORDERPAID", "err_code_des": "该订单已支付"})
			return a, true
		}, func(t *testing.T, err error) {
			var be *wxpay.BusinessError
			if !errors.As(err, &be) || be.Code != "ORDERPAID" || be.Msg != "该订单已支付" {
				t.Errorf("err %v", err)
			}
		}},
		{"result FAIL unsigned", func() (map[string]string, bool) {
			return payOK(map[string]string{"result_code": "FAIL", "err_code": "ORDERPAID"}), false
		}, func(t *testing.T, err error) {
			var se *wxpay.SignatureError
			if !errors.As(err, &se) || !errors.Is(err, signing.ErrMissingSignature) {
				t.Errorf("err %v", err)
			}
		}},
		{"success unsigned", func() (map[string]string, bool) { return payOK(nil), false }, func(t *testing.T, err error) {
			var se *wxpay.SignatureError
			if !errors.As(err, &se) {
				t.Errorf("err %v", err)
			}
		}},
		{"success tampered", func() (map[string]string, bool) {
			a := payOK(map[string]string{"total_fee": "1"})
			s, _ := signing.WxpayV2Sign(a, payKey, "MD5")
			a["sign"] = s
			a["total_fee"] = "100"
			return a, false
		}, func(t *testing.T, err error) {
			if !errors.Is(err, signing.ErrBadSignature) {
				t.Errorf("err %v", err)
			}
		}},
		{"signed fraction of a fen", func() (map[string]string, bool) {
			return payOK(map[string]string{"total_fee": "1.01", "cash_fee": "1"}), true
		}, func(t *testing.T, err error) {
			var ue *wxpay.UpstreamError
			if !errors.As(err, &ue) {
				t.Errorf("err %v", err)
			}
		}},
		{"signed text amount", func() (map[string]string, bool) {
			return payOK(map[string]string{"refund_count": "two"}), true
		}, func(t *testing.T, err error) {
			var ue *wxpay.UpstreamError
			if !errors.As(err, &ue) {
				t.Errorf("err %v", err)
			}
		}},
		{"other appid", func() (map[string]string, bool) {
			return payOK(map[string]string{"appid": "wxOTHER"}), true
		}, func(t *testing.T, err error) {
			var ue *wxpay.UpstreamError
			if !errors.As(err, &ue) {
				t.Errorf("err %v", err)
			}
		}},
		{"other merchant", func() (map[string]string, bool) {
			return payOK(map[string]string{"mch_id": "999"}), true
		}, func(t *testing.T, err error) {
			var ue *wxpay.UpstreamError
			if !errors.As(err, &ue) {
				t.Errorf("err %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newV2Fake(t, signing.SignTypeMD5)
			f.v2Answer = func(string, map[string]string) (map[string]string, bool) { return tc.answer() }
			_, err := f.v2Client().Call(context.Background(), wxpay.APIOrderQuery, map[string]string{"out_trade_no": "1"})
			tc.check(t, err)
		})
	}
}

func TestAnswerWithWrongKey(t *testing.T) {
	f := newV2Fake(t, signing.SignTypeMD5)
	f.v2Answer = func(string, map[string]string) (map[string]string, bool) {
		a := payOK(nil)
		s, _ := signing.WxpayV2Sign(a, "another-key", "MD5")
		a["sign"] = s
		return a, false
	}
	_, err := f.v2Client().Call(context.Background(), wxpay.APICloseOrder, map[string]string{"out_trade_no": "1"})
	var se *wxpay.SignatureError
	if !errors.As(err, &se) || !errors.Is(err, signing.ErrBadSignature) {
		t.Fatalf("err %v", err)
	}
}

func TestUpstreamFailures(t *testing.T) {
	f := newV2Fake(t, signing.SignTypeMD5)
	f.v2Write = func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		switch r.URL.Path {
		case "/pay/orderquery":
			w.WriteHeader(http.StatusBadGateway)
		case "/pay/closeorder":
			w.Write([]byte(`<!DOCTYPE xml [<!ENTITY x "y">]><xml><return_code>&x;</return_code></xml>`))
		case "/pay/refundquery":
			<-r.Context().Done() // never answers: only the client's timeout ends it
		}
	}
	c := f.v2Client()
	c.HTTP, c.CertHTTP = &http.Client{Timeout: 100 * time.Millisecond}, nil
	for _, tc := range []struct {
		api     wxpay.API
		timeout bool
	}{{wxpay.APIOrderQuery, false}, {wxpay.APICloseOrder, false}, {wxpay.APIRefundQuery, true}} {
		_, err := c.Call(context.Background(), tc.api, map[string]string{"out_trade_no": "1"})
		var ue *wxpay.UpstreamError
		if !errors.As(err, &ue) || ue.Timeout != tc.timeout {
			t.Errorf("%s: err %v, want an UpstreamError (timeout %v)", tc.api.Path, err, tc.timeout)
		}
	}
	if _, err := c.Call(context.Background(), wxpay.APIRefund, nil); !errors.Is(err, wxpay.ErrNoCertificate) {
		t.Errorf("refund without certificate: %v", err)
	}
}

func TestOrderQueryAnswer(t *testing.T) {
	// The orderquery example of WeChat Pay's documentation.
	fields := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100",
		"device_info": "1000", "nonce_str": "TN55wO9Pba5yENl8", "sign": "BDF0099C15FF7BC6B1585FBB110AB635",
		"result_code": "SUCCESS", "openid": "oUpF8uN95-Ptaags6E_roPHg7AG0", "is_subscribe": "Y",
		"trade_type": "MICROPAY", "bank_type": "CCB_DEBIT", "total_fee": "1", "fee_type": "CNY",
		"transaction_id": "1008450740201411110005820873", "out_trade_no": "1415757673", "attach": "订单额外描述",
		"time_end": "20141111170043", "trade_state": "SUCCESS", "cash_fee": "1", "settlement_total_fee": "1",
		"coupon_fee": "0", "coupon_count": "1", "coupon_fee_0": "0", "coupon_id_0": "1234",
	}
	got := wxpay.Answer(fields)
	want := map[string]any{
		"appId": "wx2421b1c4370ec43b", "mchId": "10000100", "deviceInfo": "1000", "openid": "oUpF8uN95-Ptaags6E_roPHg7AG0",
		"isSubscribe": "Y", "tradeType": "MICROPAY", "bankType": "CCB_DEBIT", "totalFee": int64(1), "feeType": "CNY",
		"transactionId": "1008450740201411110005820873", "outTradeNo": "1415757673", "attach": "订单额外描述",
		"timeEnd": "20141111170043", "tradeState": "SUCCESS", "cashFee": int64(1), "settlementTotalFee": int64(1),
		"couponFee": int64(0), "couponCount": int64(1), "couponFee_0": int64(0), "couponId_0": "1234",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestRefundQueryAnswer(t *testing.T) {
	// The refundquery example of WeChat Pay's documentation, with a second
	// refund and a coupon.
	fields := map[string]string{
		"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "TeqClE3i0mvn3DrK",
		"out_refund_no_0": "1415701182", "out_trade_no": "1415757673", "refund_count": "2",
		"refund_fee_0": "1", "refund_id_0": "2008450740201411110000174436", "refund_status_0": "PROCESSING",
		"refund_channel_0": "ORIGINAL", "refund_recv_accout_0": "支付用户的零钱", "refund_success_time_0": "2016-07-25 15:26:26",
		"out_refund_no_1": "1415701183", "refund_fee_1": "2", "refund_id_1": "2008450740201411110000174437", "refund_status_1": "SUCCESS",
		"coupon_refund_fee_1": "1", "coupon_refund_count_1": "1", "coupon_type_1_0": "CASH", "coupon_refund_id_1_0": "10000", "coupon_refund_fee_1_0": "1",
		"result_code": "SUCCESS", "return_code": "SUCCESS", "return_msg": "OK", "sign": "1F2841558E233C33ABA71A961D27561C",
		"transaction_id": "1008450740201411110005820873", "total_fee": "3", "cash_fee": "3", "refund_fee": "3",
	}
	got := wxpay.RefundQueryAnswer(fields)
	want := map[string]any{
		"appId": "wx2421b1c4370ec43b", "mchId": "10000100", "outTradeNo": "1415757673", "refundCount": int64(2),
		"transactionId": "1008450740201411110005820873", "totalFee": int64(3), "cashFee": int64(3), "refundFee": int64(3),
		"refundList": []map[string]any{
			{"outRefundNo": "1415701182", "refundFee": int64(1), "refundId": "2008450740201411110000174436", "refundStatus": "PROCESSING",
				"refundChannel": "ORIGINAL", "refundRecvAccout": "支付用户的零钱", "refundSuccessTime": "2016-07-25 15:26:26"},
			{"outRefundNo": "1415701183", "refundFee": int64(2), "refundId": "2008450740201411110000174437", "refundStatus": "SUCCESS",
				"couponRefundFee": int64(1), "couponRefundCount": int64(1),
				"couponList": []map[string]any{{"couponType": "CASH", "couponRefundId": "10000", "couponRefundFee": int64(1)}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestBills(t *testing.T) {
	const bill = "交易时间,公众账号ID,商户号\n`2014-11-10 16：33：45,`wx2421b1c4370ec43b,`10000100\n总交易单数,总交易额\n`1,`0.01\n"
	f := newV2Fake(t, signing.SignTypeMD5)
	mode := "text"
	f.v2Write = func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
		switch mode {
		case "gzip":
			zw := gzip.NewWriter(w)
			zw.Write([]byte(bill))
			zw.Close()
		case "fail":
			w.Write([]byte(`<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>`))
		default:
			w.Write([]byte(bill))
		}
	}
	c := f.v2Client()
	for _, mode = range []string{"text", "gzip"} {
		got, err := c.Bill(context.Background(), wxpay.APIDownloadBill, map[string]string{"bill_date": "20141110", "bill_type": "ALL"})
		if err != nil || string(got) != bill {
			t.Errorf("%s bill: %q, %v", mode, got, err)
		}
		if f.lastReq().Path != "/pay/downloadbill" || f.lastReq().Fields["bill_date"] != "20141110" {
			t.Errorf("request %s %v", f.lastReq().Path, f.lastReq().Fields)
		}
	}
	mode = "fail"
	_, err := c.Bill(context.Background(), wxpay.APIDownloadBill, map[string]string{"bill_date": "20141110"})
	var be *wxpay.BusinessError
	if !errors.As(err, &be) || be.Code != "20002" || be.Msg != "No Bill Exist" {
		t.Errorf("no bill: %v", err)
	}

	// downloadfundflow is signed HMAC-SHA256 whatever the merchant's sign
	// type, and goes over the certificate client.
	f2 := newV2Fake(t, signing.SignTypeHMACSHA256)
	f2.v2Write = func(w http.ResponseWriter, _ *http.Request, _ map[string]string) { w.Write([]byte(bill)) }
	c2 := f2.v2Client()
	c2.SignType = signing.SignTypeMD5
	c2.HTTP = nil
	got, err := c2.Bill(context.Background(), wxpay.APIDownloadFundflow, map[string]string{"bill_date": "20141110", "account_type": "Basic"})
	if err != nil || string(got) != bill || f2.lastReq().Path != "/pay/downloadfundflow" {
		t.Errorf("fundflow: %q, %v (%s)", got, err, f2.lastReq().Path)
	}
}

func TestSandbox(t *testing.T) {
	f := newV2Fake(t, signing.SignTypeMD5)
	const sandboxKey = "sandbox-sign-key-0000000000000000"
	var keyCalls atomic.Int32
	f.v2Answer = func(path string, req map[string]string) (map[string]string, bool) {
		if path == "/sandboxnew/pay/getsignkey" {
			keyCalls.Add(1)
			f.key = sandboxKey // later calls are signed with it
			if _, ok := req["appid"]; ok {
				t.Error("getsignkey with an appid")
			}
			return map[string]string{"return_code": "SUCCESS", "return_msg": "ok", "sandbox_signkey": sandboxKey, "mch_id": payMchID}, false
		}
		if path != "/sandboxnew/pay/orderquery" {
			t.Errorf("path %s", path)
		}
		return payOK(map[string]string{"trade_state": "NOTPAY"}), true
	}
	c := f.v2Client()
	c.Sandbox = true
	for i := 0; i < 3; i++ {
		ans, err := c.Call(context.Background(), wxpay.APIOrderQuery, map[string]string{"out_trade_no": "1"})
		if err != nil || ans["trade_state"] != "NOTPAY" {
			t.Fatalf("sandbox orderquery: %v %v", ans, err)
		}
	}
	if keyCalls.Load() != 1 {
		t.Errorf("getsignkey called %d times, want 1", keyCalls.Load())
	}
	if c.URL(wxpay.APIRefund) != f.srv.URL+"/sandboxnew/secapi/pay/refund" {
		t.Errorf("sandbox refund URL %s", c.URL(wxpay.APIRefund))
	}
}
