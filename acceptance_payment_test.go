package unicloud

// Acceptance checks of §4 (unicloud_payment wxpay | alipay) and §4a
// (WeChat Pay APIv3): the provider calls and what they carry, orderInfo,
// amounts in integer fen both ways, the answers' errCode, and refusals
// that send nothing.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// payqaOrderInfoKeys fails unless orderInfo has exactly keys.
func payqaOrderInfoKeys(t *testing.T, what string, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	info, _ := m["orderInfo"].(map[string]any)
	if got := strings.Join(qaKeys(info), ","); got != strings.Join(payqaSorted(keys), ",") {
		t.Errorf("%s: orderInfo members %s, want %s", what, got, strings.Join(payqaSorted(keys), ","))
	}
	return info
}

func payqaSorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func payqaStrings(m map[string]any, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		out[k] = fmt.Sprint(m[k])
	}
	return out
}

// TestAcceptancePaymentWxpayV2: getOrderInfo is /pay/unifiedorder with
// the merchant identity, the default notify_url, trade_type per clientType
// (body or X-Unicloud-Client-Type) and total_fee in fen, signed MD5 or
// HMAC-SHA256 as sign_type says; orderInfo has exactly the members
// uni.requestPayment takes, signed the same way; answers carry amounts as
// integer fen; provider failures are HTTP 200 with err_code/err_code_des;
// an answer whose sign fails is 502 UNICLOUD_UPSTREAM_BAD_SIGNATURE.
func TestAcceptancePaymentWxpayV2(t *testing.T) {
	e := payqaStart(t)
	for _, tc := range []struct{ route, signType string }{{"/pay/wx/", "MD5"}, {"/pay/wxh/", "HMAC-SHA256"}} {
		t.Run(tc.signType, func(t *testing.T) {
			no := "pq-v2-" + tc.signType
			status, m, raw := qaPost(t, e.base+tc.route+"getOrderInfo", `{"openid":"oPayqa1","body":"商品","outTradeNo":"`+no+`","totalFee":1234}`,
				"X-Unicloud-Client-Type", "mp-weixin")
			if !qaWant(t, "getOrderInfo", status, m, raw, 200, 0) {
				return
			}
			req := e.wx.last(t, "/pay/unifiedorder")
			f := qaXMLFields(req.ReqBody)
			for k, want := range map[string]string{"appid": payqaWxApp, "mch_id": payqaMch, "trade_type": "JSAPI", "total_fee": "1234",
				"openid": "oPayqa1", "out_trade_no": no, "body": "商品", "notify_url": e.base + "/notify/wx"} {
				if f[k] != want {
					t.Errorf("unifiedorder %s = %q, want %q", k, f[k], want)
				}
			}
			if tc.signType == "HMAC-SHA256" && f["sign_type"] != "HMAC-SHA256" {
				t.Errorf("unifiedorder sign_type %q, want HMAC-SHA256", f["sign_type"])
			}
			if f["sign"] != payqaV2Sign(f, payqaKey, tc.signType) {
				t.Errorf("unifiedorder is not signed %s with the key: %s", tc.signType, req.ReqBody)
			}
			info := payqaOrderInfoKeys(t, "mp-weixin", m, "appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
			ans := qaXMLFields(req.RespBody)
			if info["package"] != "prepay_id="+ans["prepay_id"] || info["signType"] != tc.signType || info["appId"] != payqaWxApp {
				t.Errorf("orderInfo %v (prepay_id %s)", info, ans["prepay_id"])
			}
			signed := payqaStrings(info, "appId", "timeStamp", "nonceStr", "package", "signType")
			if fmt.Sprint(info["paySign"]) != payqaV2Sign(signed, payqaKey, tc.signType) {
				t.Errorf("paySign is not the %s signature of the orderInfo: %v", tc.signType, info)
			}
			qaNoneOf(t, "getOrderInfo answer", raw, payqaKey)
		})
	}

	pay := e.base + "/pay/wx/"
	// app-plus through the header, native and notifyUrl through the body.
	status, m, raw := qaPost(t, pay+"getOrderInfo", `{"body":"b","outTradeNo":"pq-v2-app","totalFee":5}`, "X-Unicloud-Client-Type", "app-plus")
	if qaWant(t, "app-plus", status, m, raw, 200, 0) {
		info := payqaOrderInfoKeys(t, "app-plus", m, "appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign")
		f := qaXMLFields(e.wx.last(t, "/pay/unifiedorder").ReqBody)
		if f["trade_type"] != "APP" || info["package"] != "Sign=WXPay" || info["partnerid"] != payqaMch || info["appid"] != payqaWxApp {
			t.Errorf("app-plus: trade_type %q, orderInfo %v", f["trade_type"], info)
		}
		if fmt.Sprint(info["sign"]) != payqaV2Sign(payqaStrings(info, "appid", "partnerid", "prepayid", "package", "noncestr", "timestamp"), payqaKey, "MD5") {
			t.Errorf("app-plus sign is not the MD5 signature of the orderInfo: %v", info)
		}
	}
	status, m, raw = qaPost(t, pay+"getOrderInfo", `{"body":"b","outTradeNo":"pq-v2-native","totalFee":7,"clientType":"native","notifyUrl":"https://shop.example.com/n"}`)
	if qaWant(t, "native", status, m, raw, 200, 0) {
		info := payqaOrderInfoKeys(t, "native", m, "codeUrl")
		f := qaXMLFields(e.wx.last(t, "/pay/unifiedorder").ReqBody)
		if f["trade_type"] != "NATIVE" || f["notify_url"] != "https://shop.example.com/n" || !strings.HasPrefix(fmt.Sprint(info["codeUrl"]), "weixin://") {
			t.Errorf("native: trade_type %q notify_url %q orderInfo %v", f["trade_type"], f["notify_url"], info)
		}
	}

	// Paid: orderQuery answers the amounts as integer fen.
	e.hook(t, "/_emulator/wxpay/pay?out_trade_no=pq-v2-MD5", nil)
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-v2-MD5"}`)
	if qaWant(t, "orderQuery", status, m, raw, 200, 0) {
		if _, ok := m["totalFee"].(json.Number); !ok || num(m["totalFee"]) != 1234 || num(m["cashFee"]) != 1234 || m["tradeState"] != "SUCCESS" || m["errMsg"] != "ok" {
			t.Errorf("orderQuery answer %s", raw)
		}
		if f := qaXMLFields(e.wx.last(t, "/pay/orderquery").ReqBody); f["out_trade_no"] != "pq-v2-MD5" || f["mch_id"] != payqaMch || f["sign"] != qaWxpayV2Sign(f, payqaKey) {
			t.Errorf("orderquery request %v", f)
		}
	}

	// A failure of WeChat Pay: 200, errCode = err_code, errMsg = err_code_des.
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-v2-none"}`)
	ans := qaXMLFields(e.wx.last(t, "/pay/orderquery").RespBody)
	if ans["err_code"] == "" {
		t.Fatalf("the emulator knows the order? %v", ans)
	}
	if status != 200 || m["errCode"] != ans["err_code"] || m["errMsg"] != ans["err_code_des"] {
		t.Errorf("unknown order: %d %s, want 200 errCode %q errMsg %q", status, raw, ans["err_code"], ans["err_code_des"])
	}

	// Refused before anything is sent.
	before := e.wx.count("")
	for _, body := range []string{
		`{"body":"b","outTradeNo":"pq-x","totalFee":1.5,"clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","totalFee":"0.01","clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","totalFee":-1,"clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","totalFee":1e2,"clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","totalFee":"abc","clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-x","totalFee":1,"clientType":"native"`,
	} {
		status, m, raw = qaPost(t, pay+"getOrderInfo", body)
		qaWant(t, "getOrderInfo "+body, status, m, raw, 400, "UNICLOUD_BAD_REQUEST")
	}
	status, m, raw = qaPost(t, pay+"cancelOrder", `{"outTradeNo":"pq-v2-app"}`)
	qaWant(t, "wxpay cancelOrder", status, m, raw, 400, "UNICLOUD_NOT_SUPPORTED")
	if n := e.wx.count(""); n != before {
		t.Errorf("%d requests reached WeChat Pay for refused calls", n-before)
	}

	// An answer changed on the way fails its sign: 502, nothing of it passed on.
	e.wx.set(nil, func(x *qaExchange, body []byte) []byte {
		return []byte(strings.Replace(string(body), "<total_fee>1234</total_fee>", "<total_fee>1</total_fee>", 1))
	})
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-v2-MD5"}`)
	e.wx.set(nil, nil)
	if !strings.Contains(string(e.wx.last(t, "/pay/orderquery").RespBody), "<total_fee>1</total_fee>") {
		t.Fatalf("the answer was not changed: %s", e.wx.last(t, "/pay/orderquery").RespBody)
	}
	if qaWant(t, "tampered answer", status, m, raw, 502, "UNICLOUD_UPSTREAM_BAD_SIGNATURE") && (m["tradeState"] != nil || m["totalFee"] != nil) {
		t.Errorf("a refused answer passed fields on: %s", raw)
	}
	payqaPaymentEnd(t, e, pay)
}

// payqaPaymentEnd: an unknown call is 404 UNICLOUD_API_NOT_FOUND with no
// provider call, and the DEBUG log holds no secret.
func payqaPaymentEnd(t *testing.T, e *payqaEnv, pay string) {
	t.Helper()
	status, m, raw := qaPost(t, pay+"noSuchCall", `{"outTradeNo":"x"}`)
	qaWant(t, "unknown call", status, m, raw, 404, "UNICLOUD_API_NOT_FOUND")
	logs, _ := os.ReadFile(e.logFile)
	qaNoneOf(t, "the log", logs, e.secrets()...)
}

// payqaAliVerify checks an Alipay request's RSA2 signature with the app's
// public key (the signed string keeps sign_type, as Alipay's SDKs sign
// requests).
func payqaAliVerify(t *testing.T, what string, params map[string]string) {
	t.Helper()
	if params["sign_type"] != "RSA2" {
		t.Errorf("%s: sign_type %q, want RSA2", what, params["sign_type"])
	}
	if err := qaRSAVerify(&payKeys.app.PublicKey, qaAliSignContent(params), params["sign"], "RSA2"); err != nil {
		t.Errorf("%s: sign does not verify with the app's key: %v", what, err)
	}
}

func payqaBiz(t *testing.T, params map[string]string) map[string]any {
	t.Helper()
	var biz map[string]any
	if err := json.Unmarshal([]byte(params["biz_content"]), &biz); err != nil {
		t.Errorf("biz_content %q: %v", params["biz_content"], err)
	}
	return biz
}

// TestAcceptancePaymentAlipay: every call is the alipay.trade.* method
// the contract names, signed RSA2; amounts go out as exact yuan strings and
// come back as integer fen; mp-alipay answers {tradeNo} from
// alipay.trade.create; app-plus is the signed alipay.trade.app.pay string
// with no network call; Alipay's failures are HTTP 200 with sub_code;
// bills are 400 UNICLOUD_NOT_SUPPORTED; an answer whose *_response member
// was changed is 502.
func TestAcceptancePaymentAlipay(t *testing.T) {
	e := payqaStart(t)
	pay := e.base + "/pay/ali/"
	for fen, yuan := range map[int]string{1: "0.01", 10: "0.10", 100: "1.00", 123456: "1234.56", 100000001: "1000000.01"} {
		no := fmt.Sprintf("pq-ali-%d", fen)
		status, m, raw := qaPost(t, pay+"getOrderInfo", fmt.Sprintf(`{"openid":"2088102146225135","subject":"s","outTradeNo":%q,"totalFee":%d,"clientType":"mp-alipay"}`, no, fen))
		if !qaWant(t, "getOrderInfo "+no, status, m, raw, 200, 0) {
			continue
		}
		calls := e.ali.alipayCalls("alipay.trade.create")
		if len(calls) == 0 {
			t.Fatal("no alipay.trade.create reached Alipay")
		}
		c := calls[len(calls)-1]
		params := qaFlat(c.Form)
		payqaAliVerify(t, "alipay.trade.create", params)
		biz := payqaBiz(t, params)
		if biz["total_amount"] != yuan || biz["out_trade_no"] != no || params["app_id"] != payqaAliApp || params["notify_url"] != e.base+"/notify/ali" {
			t.Errorf("%d fen: alipay.trade.create %v biz %v, want total_amount %q", fen, params, biz, yuan)
		}
		if biz["buyer_id"] != "2088102146225135" && biz["buyer_open_id"] != "2088102146225135" {
			t.Errorf("the openid is not the buyer: %v", biz)
		}
		info := payqaOrderInfoKeys(t, "mp-alipay", m, "tradeNo")
		if tn := qaJSONField(c.RespBody, "alipay_trade_create_response", "trade_no"); tn == "" || info["tradeNo"] != tn {
			t.Errorf("orderInfo.tradeNo %v, Alipay's trade_no %q", info["tradeNo"], tn)
		}
	}

	// Paid, queried: Alipay says "1234.56", the caller gets 123456.
	e.hook(t, "/_emulator/alipay/pay", url.Values{"out_trade_no": {"pq-ali-123456"}})
	status, m, raw := qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-ali-123456"}`)
	if qaWant(t, "orderQuery", status, m, raw, 200, 0) {
		c := e.ali.alipayCalls("alipay.trade.query")
		ans := string(c[len(c)-1].RespBody)
		if !strings.Contains(ans, `"total_amount":"1234.56"`) || num(m["totalFee"]) != 123456 || m["tradeState"] != "SUCCESS" {
			t.Errorf("orderQuery %s (Alipay said %s)", raw, ans)
		}
		payqaAliVerify(t, "alipay.trade.query", qaFlat(c[len(c)-1].Form))
	}
	// Refund 34 fen: "0.34" out, 34 back.
	status, m, raw = qaPost(t, pay+"refund", `{"outTradeNo":"pq-ali-123456","outRefundNo":"pq-ali-r1","refundFee":34}`)
	if qaWant(t, "refund", status, m, raw, 200, 0) {
		c := e.ali.alipayCalls("alipay.trade.refund")
		if len(c) == 0 {
			t.Fatal("no alipay.trade.refund")
		}
		if biz := payqaBiz(t, qaFlat(c[len(c)-1].Form)); biz["refund_amount"] != "0.34" {
			t.Errorf("alipay.trade.refund biz %v, want refund_amount 0.34", biz)
		}
		if num(m["refundFee"]) != 34 {
			t.Errorf("refund answer %s, want refundFee 34", raw)
		}
	}
	status, m, raw = qaPost(t, pay+"refundQuery", `{"outTradeNo":"pq-ali-123456","outRefundNo":"pq-ali-r1"}`)
	if qaWant(t, "refundQuery", status, m, raw, 200, 0) && (len(e.ali.alipayCalls("alipay.trade.fastpay.refund.query")) != 1 || num(m["refundFee"]) != 34) {
		t.Errorf("refundQuery %s", raw)
	}
	status, m, raw = qaPost(t, pay+"closeOrder", `{"outTradeNo":"pq-ali-1"}`)
	if qaWant(t, "closeOrder", status, m, raw, 200, 0) && len(e.ali.alipayCalls("alipay.trade.close")) != 1 {
		t.Error("closeOrder is not alipay.trade.close")
	}
	status, m, raw = qaPost(t, pay+"cancelOrder", `{"outTradeNo":"pq-ali-10"}`)
	if qaWant(t, "cancelOrder", status, m, raw, 200, 0) && len(e.ali.alipayCalls("alipay.trade.cancel")) != 1 {
		t.Error("cancelOrder is not alipay.trade.cancel")
	}

	// Alipay's failure: 200, errCode = sub_code, errMsg = sub_msg.
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-ali-none"}`)
	c := e.ali.alipayCalls("alipay.trade.query")
	sub := qaJSONField(c[len(c)-1].RespBody, "alipay_trade_query_response", "sub_code")
	if sub == "" || status != 200 || m["errCode"] != sub || qaStr(m, "errMsg") != qaJSONField(c[len(c)-1].RespBody, "alipay_trade_query_response", "sub_msg") {
		t.Errorf("unknown trade: %d %s, want 200 errCode %q (Alipay: %s)", status, raw, sub, c[len(c)-1].RespBody)
	}

	// app-plus: the signed order string, no call.
	before := e.ali.count("")
	status, m, raw = qaPost(t, pay+"getOrderInfo", `{"subject":"s","outTradeNo":"pq-ali-app","totalFee":5}`, "X-Unicloud-Client-Type", "app-plus")
	if qaWant(t, "app-plus", status, m, raw, 200, 0) {
		s, _ := m["orderInfo"].(string)
		v, err := url.ParseQuery(s)
		if err != nil || v.Get("method") != "alipay.trade.app.pay" || v.Get("app_id") != payqaAliApp {
			t.Errorf("app-plus orderInfo %q", s)
		} else {
			payqaAliVerify(t, "app order string", qaFlat(v))
			if biz := payqaBiz(t, qaFlat(v)); biz["total_amount"] != "0.05" || biz["out_trade_no"] != "pq-ali-app" {
				t.Errorf("app order biz_content %v", biz)
			}
		}
	}
	// Refused before anything is sent: amounts that are not integer fen,
	// calls Alipay does not have.
	for _, body := range []string{
		`{"subject":"s","outTradeNo":"pq-y","totalFee":"0.01","clientType":"mp-alipay","openid":"2088102146225135"}`,
		`{"subject":"s","outTradeNo":"pq-y","totalFee":0.5,"clientType":"mp-alipay","openid":"2088102146225135"}`,
		`{"subject":"s","outTradeNo":"pq-y","totalAmount":"0.01","clientType":"mp-alipay","openid":"2088102146225135"}`,
	} {
		status, m, raw = qaPost(t, pay+"getOrderInfo", body)
		qaWant(t, "getOrderInfo "+body, status, m, raw, 400, "UNICLOUD_BAD_REQUEST")
	}
	status, m, raw = qaPost(t, pay+"refund", `{"outTradeNo":"pq-ali-123456","outRefundNo":"pq-ali-r2","refundFee":"0.5"}`)
	qaWant(t, "refund refundFee 0.5", status, m, raw, 400, "UNICLOUD_BAD_REQUEST")
	for _, call := range []string{"downloadBill", "downloadFundflow"} {
		status, m, raw = qaPost(t, pay+call, `{"billDate":"20240304"}`)
		qaWant(t, "alipay "+call, status, m, raw, 400, "UNICLOUD_NOT_SUPPORTED")
	}
	if n := e.ali.count(""); n != before {
		t.Errorf("%d requests reached Alipay for calls that make none", n-before)
	}

	// An answer changed inside its signed member: 502.
	e.ali.set(nil, func(x *qaExchange, body []byte) []byte {
		return []byte(strings.Replace(string(body), `"total_amount":"1234.56"`, `"total_amount":"1234.57"`, 1))
	})
	status, m, raw = qaPost(t, pay+"orderQuery", `{"outTradeNo":"pq-ali-123456"}`)
	e.ali.set(nil, nil)
	if qaWant(t, "tampered answer", status, m, raw, 502, "UNICLOUD_UPSTREAM_BAD_SIGNATURE") && m["totalFee"] != nil {
		t.Errorf("a refused answer passed fields on: %s", raw)
	}
	payqaPaymentEnd(t, e, pay)
}

// payqaAuth parses and checks an APIv3 request's Authorization: scheme,
// mchid, serial_no, a fresh timestamp and an RSA-SHA256 signature with the
// merchant key over METHOD\nURL\ntimestamp\nnonce\nbody\n.
func payqaAuth(t *testing.T, x payqaV3Ex) {
	t.Helper()
	h := x.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		t.Errorf("%s %s: Authorization %q", x.Method, x.URI, h)
		return
	}
	p := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(v, `"`)
	}
	var ts int64
	fmt.Sscan(p["timestamp"], &ts)
	if p["mchid"] != payqaMch3 || p["serial_no"] != payV3Serial || p["nonce_str"] == "" || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("%s %s: Authorization members %v", x.Method, x.URI, p)
	}
	sig, _ := base64.StdEncoding.DecodeString(p["signature"])
	sum := sha256.Sum256([]byte(x.Method + "\n" + x.URI + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(x.Body) + "\n"))
	if err := rsa.VerifyPKCS1v15(&payV3Keys.merchant.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("%s %s: Authorization signature does not verify over METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n: %v", x.Method, x.URI, err)
	}
}

// payqaV3Call makes a call and returns what it sent to WeChat Pay.
func payqaV3Call(t *testing.T, e *payqaEnv, call, body string, header ...string) (int, map[string]any, []byte, []payqaV3Ex) {
	t.Helper()
	n := e.v3.n()
	status, m, raw := qaPost(t, e.base+"/pay/wx3/"+call, body, header...)
	sent := e.v3.since(n)
	for _, x := range sent {
		payqaAuth(t, x)
	}
	qaNoneOf(t, call+" answer", raw, e.secrets()...)
	return status, m, raw, sent
}

func payqaWantCall(t *testing.T, what string, sent []payqaV3Ex, method, uri string) map[string]any {
	t.Helper()
	if len(sent) == 0 || sent[0].Method != method || sent[0].URI != uri {
		var got []string
		for _, x := range sent {
			got = append(got, x.Method+" "+x.URI)
		}
		t.Errorf("%s: WeChat Pay got %v, want %s %s", what, got, method, uri)
		return nil
	}
	var b map[string]any
	if len(sent[0].Body) > 0 {
		if err := json.Unmarshal(sent[0].Body, &b); err != nil {
			t.Errorf("%s: request body %s: %v", what, sent[0].Body, err)
		}
	}
	return b
}

// TestAcceptancePaymentWxpayV3: every call is the APIv3 URL with a signed
// Authorization, amounts in the request JSON are integer fen; billDate and
// accountType are converted, and the second bill request is signed too;
// answers are used only with a Wechatpay-Signature of a known key within
// max_skew.
func TestAcceptancePaymentWxpayV3(t *testing.T) {
	e := payqaStart(t)
	status, m, raw, sent := payqaV3Call(t, e, "getOrderInfo", `{"openid":"oPayqa3","body":"商品","outTradeNo":"pq-v3-1","totalFee":1234,"clientType":"mp-weixin"}`)
	if qaWant(t, "getOrderInfo mp-weixin", status, m, raw, 200, 0) {
		b := payqaWantCall(t, "mp-weixin", sent, "POST", "/v3/pay/transactions/jsapi")
		if qaJSONField(sent[0].Body, "amount", "total") != "1234" {
			t.Errorf("jsapi amount %s, want total 1234 (fen)", sent[0].Body)
		}
		want := `{"appid":"` + payqaWxApp + `","description":"商品","mchid":"` + payqaMch3 + `","notify_url":"` + e.base + `/notify/wx3","out_trade_no":"pq-v3-1","payer":{"openid":"oPayqa3"}}`
		var w map[string]any
		_ = json.Unmarshal([]byte(want), &w)
		for k, v := range w {
			if qaJSON(b[k]) != qaJSON(v) {
				t.Errorf("jsapi %s = %s, want %s", k, qaJSON(b[k]), qaJSON(v))
			}
		}
		info := payqaOrderInfoKeys(t, "v3 mp-weixin", m, "appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
		if info["signType"] != "RSA" || info["package"] != "prepay_id="+qaJSONField(sent[0].RespBody, "prepay_id") {
			t.Errorf("orderInfo %v", info)
		}
	}
	for _, tc := range []struct{ body, uri, member string }{
		{`{"body":"b","outTradeNo":"pq-v3-app","totalFee":2,"clientType":"app-plus"}`, "/v3/pay/transactions/app", ""},
		{`{"body":"b","outTradeNo":"pq-v3-nat","totalFee":3,"clientType":"native"}`, "/v3/pay/transactions/native", "codeUrl"},
		{`{"body":"b","outTradeNo":"pq-v3-h5","totalFee":4,"clientType":"h5","spbillCreateIp":"203.0.113.9","sceneInfo":{"h5Info":{"type":"Wap"}}}`, "/v3/pay/transactions/h5", "mwebUrl"},
	} {
		status, m, raw, sent = payqaV3Call(t, e, "getOrderInfo", tc.body)
		if qaWant(t, tc.uri, status, m, raw, 200, 0) {
			payqaWantCall(t, tc.uri, sent, "POST", tc.uri)
			if tc.member != "" {
				payqaOrderInfoKeys(t, tc.uri, m, tc.member)
			} else {
				payqaOrderInfoKeys(t, tc.uri, m, "appid", "partnerid", "prepayid", "package", "noncestr", "timestamp", "sign")
			}
		}
	}

	e.hook(t, "/_emulator/wxpay/pay?out_trade_no=pq-v3-1", nil)
	status, m, raw, sent = payqaV3Call(t, e, "orderQuery", `{"outTradeNo":"pq-v3-1"}`)
	if qaWant(t, "orderQuery", status, m, raw, 200, 0) {
		payqaWantCall(t, "orderQuery", sent, "GET", "/v3/pay/transactions/out-trade-no/pq-v3-1?mchid="+payqaMch3)
		if num(m["totalFee"]) != 1234 || m["tradeState"] != "SUCCESS" {
			t.Errorf("orderQuery %s", raw)
		}
	}
	status, m, raw, sent = payqaV3Call(t, e, "closeOrder", `{"outTradeNo":"pq-v3-nat"}`)
	if qaWant(t, "closeOrder", status, m, raw, 200, 0) {
		if b := payqaWantCall(t, "closeOrder", sent, "POST", "/v3/pay/transactions/out-trade-no/pq-v3-nat/close"); b["mchid"] != payqaMch3 {
			t.Errorf("close body %v", b)
		}
	}
	status, m, raw, sent = payqaV3Call(t, e, "refund", `{"outTradeNo":"pq-v3-1","outRefundNo":"pq-v3-r1","totalFee":1234,"refundFee":34}`)
	if qaWant(t, "refund", status, m, raw, 200, 0) {
		b := payqaWantCall(t, "refund", sent, "POST", "/v3/refund/domestic/refunds")
		if qaJSON(b["amount"]) != `{"currency":"CNY","refund":34,"total":1234}` || b["out_trade_no"] != "pq-v3-1" || b["out_refund_no"] != "pq-v3-r1" {
			t.Errorf("refund body %s", sent[0].Body)
		}
		if num(m["refundFee"]) != 34 || num(m["totalFee"]) != 1234 {
			t.Errorf("refund answer %s", raw)
		}
	}
	status, m, raw, sent = payqaV3Call(t, e, "refundQuery", `{"outRefundNo":"pq-v3-r1"}`)
	if qaWant(t, "refundQuery", status, m, raw, 200, 0) {
		payqaWantCall(t, "refundQuery", sent, "GET", "/v3/refund/domestic/refunds/pq-v3-r1")
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600))
	status, m, raw, sent = payqaV3Call(t, e, "downloadBill", `{"billDate":"`+today.Format("20060102")+`"}`)
	if qaWant(t, "downloadBill", status, m, raw, 200, 0) {
		payqaWantCall(t, "downloadBill", sent, "GET", "/v3/bill/tradebill?bill_date="+today.Format("2006-01-02")+"&bill_type=ALL")
		if len(sent) != 2 || sent[1].Method != "GET" || !strings.Contains(qaJSONField(sent[0].RespBody, "download_url"), sent[1].URI) {
			t.Errorf("the bill file request: %d requests", len(sent))
		}
		if !strings.Contains(fmt.Sprint(m["content"]), "pq-v3-1") {
			t.Errorf("bill content %s", raw)
		}
	}
	for acct, want := range map[string]string{"Basic": "BASIC", "Operation": "OPERATION", "Fees": "FEES"} {
		_, _, _, sent = payqaV3Call(t, e, "downloadFundflow", `{"billDate":"`+today.Format("20060102")+`","accountType":"`+acct+`"}`)
		payqaWantCall(t, "downloadFundflow "+acct, sent, "GET", "/v3/bill/fundflowbill?account_type="+want+"&bill_date="+today.Format("2006-01-02"))
	}

	// Refused before anything is sent.
	before := e.v3.n()
	for _, body := range []string{
		`{"body":"b","outTradeNo":"pq-v3-x","totalFee":1.5,"clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-v3-x","totalFee":"0.01","clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-v3-x","totalFee":-1,"clientType":"native"}`,
		`{"body":"b","outTradeNo":"pq-v3-x","totalFee":1e2,"clientType":"native"}`,
	} {
		status, m, raw = qaPost(t, e.base+"/pay/wx3/getOrderInfo", body)
		qaWant(t, "v3 getOrderInfo "+body, status, m, raw, 400, "UNICLOUD_BAD_REQUEST")
	}
	status, m, raw = qaPost(t, e.base+"/pay/wx3/refund", `{"outTradeNo":"pq-v3-1","outRefundNo":"pq-v3-r2","totalFee":1234,"refundFee":1235}`)
	qaWant(t, "refundFee over totalFee", status, m, raw, 400, "UNICLOUD_BAD_REQUEST")
	status, m, raw = qaPost(t, e.base+"/pay/wx3/cancelOrder", `{"outTradeNo":"pq-v3-1"}`)
	qaWant(t, "v3 cancelOrder", status, m, raw, 400, "UNICLOUD_NOT_SUPPORTED")
	if n := e.v3.n(); n != before {
		t.Errorf("%d requests reached WeChat Pay for refused calls", n-before)
	}

	// Answers re-signed here with the platform key: fresh, accepted (the
	// control); older than max_skew (1m), or naming another serial: refused.
	resign := func(age time.Duration, serial string) {
		e.v3.setResign(func(h http.Header, body []byte) {
			hs := payqaV3Headers(t, body, payV3Keys.platform, serial, time.Now().Add(-age))
			for i := 0; i+1 < len(hs); i += 2 {
				h.Set(hs[i], hs[i+1])
			}
		})
	}
	for _, tc := range []struct {
		what   string
		age    time.Duration
		serial string
		status int
	}{
		{"re-signed now", 0, payqaPubID, 200},
		{"re-signed 30s ago", 30 * time.Second, payqaPubID, 200},
		{"signed 3 minutes ago", 3 * time.Minute, payqaPubID, 502},
		{"unknown serial", 0, "PUB_KEY_ID_0000000000000000000000000000000000000000", 502},
	} {
		resign(tc.age, tc.serial)
		status, m, raw = qaPost(t, e.base+"/pay/wx3/orderQuery", `{"outTradeNo":"pq-v3-1"}`)
		if status != tc.status || (tc.status == 200 && m["tradeState"] != "REFUND") || (tc.status != 200 && m["tradeState"] != nil) {
			t.Errorf("answer %s: %d %s, want %d", tc.what, status, raw, tc.status)
		}
		if tc.status == 502 && m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Logf("answer %s: errCode %v", tc.what, m["errCode"])
		}
	}
	e.v3.setResign(nil)
	payqaPaymentEnd(t, e, e.base+"/pay/wx3/")
}
