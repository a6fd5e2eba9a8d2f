package wxpay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// v3Vectors are the published APIv3 vectors (shared/vectors/vectors.json).
type v3Vectors struct {
	Requests struct {
		PrivateKeyFile string `json:"private_key_file"`
		Cases          []struct {
			Method, URL, Timestamp, Nonce, Body, Signature string
		} `json:"cases"`
		MiniProgram struct {
			Message   string `json:"message"`
			Signature string `json:"signature"`
		} `json:"mini_program_pay_sign"`
	} `json:"wxpay_v3_request_signatures"`
	Response struct {
		PublicKeyFile string            `json:"public_key_file"`
		Headers       map[string]string `json:"headers"`
		Body          string            `json:"body"`
	} `json:"wxpay_v3_response_verification"`
}

func loadV3Vectors(tb testing.TB) v3Vectors {
	tb.Helper()
	var v v3Vectors
	if err := json.Unmarshal(payVectorFile(tb, "vectors.json"), &v); err != nil {
		tb.Fatal(err)
	}
	if len(v.Requests.Cases) == 0 || v.Response.Body == "" {
		tb.Fatal("vectors.json has no APIv3 vectors")
	}
	return v
}

// v3Keys: the merchant key is WeChat Pay's published test key; the
// platform keys are made once per test binary.
var v3Keys struct {
	once      sync.Once
	merchant  *rsa.PrivateKey
	platform  *rsa.PrivateKey
	platform2 *rsa.PrivateKey
}

const (
	v3MchID    = "1900007291"
	v3AppID    = "wxd678efh567hg6787"
	v3Serial   = "3775B6A45ACD588826D15E583A95F5DD********"
	v3Platform = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
	v3PubKeyID = "PUB_KEY_ID_0119000072912025010100000000000001"
)

func v3TestKeys(tb testing.TB) {
	tb.Helper()
	v3Keys.once.Do(func() {
		k, err := signing.ParseRSAPrivateKey(string(payVectorFile(tb, "keys/wxpay_official_test_key.pem")))
		if err != nil {
			tb.Fatal(err)
		}
		v3Keys.merchant = k
		for _, p := range []**rsa.PrivateKey{&v3Keys.platform, &v3Keys.platform2} {
			if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				tb.Fatal(err)
			}
		}
	})
	if v3Keys.merchant == nil {
		tb.Fatal("test keys unavailable")
	}
}

// parseV3Auth reads WECHATPAY2-SHA256-RSA2048 k="v",… (the fake's side).
func parseV3Auth(h string) (map[string]string, bool) {
	rest, ok := strings.CutPrefix(h, "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return nil, false
		}
		out[k] = v[1 : len(v)-1]
	}
	return out, true
}

// verifyMerchant checks a request signature with the merchant's public
// key.
func verifyMerchant(msg, sig string) error {
	return rsaVerifySHA256(&v3Keys.merchant.PublicKey, []byte(msg), sig)
}

// rsaVerifySHA256 checks a base64 SHA256withRSA signature of msg.
func rsaVerifySHA256(pub *rsa.PublicKey, msg []byte, sigBase64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sigBase64)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func TestV3RequestSignatureVectors(t *testing.T) {
	v := loadV3Vectors(t)
	key, err := signing.ParseRSAPrivateKey(string(payVectorFile(t, v.Requests.PrivateKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range v.Requests.Cases {
		ts, _ := strconv.ParseInt(tc.Timestamp, 10, 64)
		c := &wxpay.ClientV3{
			MchID: "1900007291", PrivateKey: key, SerialNo: "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB",
			Now: func() time.Time { return time.Unix(ts, 0) }, Nonce: func() string { return tc.Nonce },
		}
		var body []byte
		if tc.Body != "" {
			body = []byte(tc.Body)
		}
		req, err := c.NewRequest(context.Background(), tc.Method, tc.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		want := `WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="` + tc.Nonce + `",signature="` + tc.Signature +
			`",timestamp="` + tc.Timestamp + `",serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB"`
		if got := req.Header.Get("Authorization"); got != want {
			t.Errorf("case %d: Authorization\n got %s\nwant %s", i, got, want)
		}
		if req.URL.String() != wxpay.DefaultEndpoint+tc.URL || req.Method != tc.Method {
			t.Errorf("case %d: %s %s", i, req.Method, req.URL)
		}
	}
}

func TestV3PaySignVector(t *testing.T) {
	v := loadV3Vectors(t)
	key, err := signing.ParseRSAPrivateKey(string(payVectorFile(t, v.Requests.PrivateKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSuffix(v.Requests.MiniProgram.Message, "\n"), "\n")
	if len(parts) != 4 {
		t.Fatalf("message has %d lines", len(parts))
	}
	ts, _ := strconv.ParseInt(parts[1], 10, 64)
	c := &wxpay.ClientV3{
		AppID: parts[0], MchID: "1900007291", PrivateKey: key,
		Now: func() time.Time { return time.Unix(ts, 0) }, Nonce: func() string { return parts[2] },
	}
	info, err := c.OrderInfo("mp-weixin", map[string]any{"prepay_id": strings.TrimPrefix(parts[3], "prepay_id=")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"appId": parts[0], "timeStamp": parts[1], "nonceStr": parts[2], "package": parts[3],
		"signType": "RSA", "paySign": v.Requests.MiniProgram.Signature,
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("orderInfo\n got %v\nwant %v", info, want)
	}
	// app-plus: the same signature over appid, timestamp, noncestr, prepayid.
	info, err = c.OrderInfo("app-plus", map[string]any{"prepay_id": "wx201410272009395522657a690389285100"})
	if err != nil {
		t.Fatal(err)
	}
	msg := parts[0] + "\n" + parts[1] + "\n" + parts[2] + "\nwx201410272009395522657a690389285100\n"
	if err := rsaVerifySHA256(&key.PublicKey, []byte(msg), info["sign"]); err != nil {
		t.Errorf("app sign: %v", err)
	}
	if info["package"] != "Sign=WXPay" || info["partnerid"] != "1900007291" || info["prepayid"] != "wx201410272009395522657a690389285100" ||
		info["appid"] != parts[0] || info["noncestr"] != parts[2] || info["timestamp"] != parts[1] || len(info) != 7 {
		t.Errorf("app orderInfo %v", info)
	}
}

// TestV3ResponseVerificationVector answers the published signed answer
// and checks the client accepts it, and refuses it with one byte added.
func TestV3ResponseVerificationVector(t *testing.T) {
	v := loadV3Vectors(t)
	pub, err := signing.ParseRSAPublicKey(string(payVectorFile(t, v.Response.PublicKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	body := v.Response.Body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, val := range v.Response.Headers {
			w.Header().Set(k, val)
		}
		w.Header().Set("Wechatpay-Serial", v3PubKeyID)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	ts, _ := strconv.ParseInt(v.Response.Headers["Wechatpay-Timestamp"], 10, 64)
	v3TestKeys(t)
	c := &wxpay.ClientV3{
		AppID: v3AppID, MchID: v3MchID, PrivateKey: v3Keys.merchant, SerialNo: v3Serial,
		PlatformKeys: wxpay.StaticPlatformKeys{v3PubKeyID: pub}, Endpoint: srv.URL, HTTP: srv.Client(),
		Now: func() time.Time { return time.Unix(ts+30, 0) },
	}
	ans, err := c.DoJSON(context.Background(), http.MethodPost, "/v3/pay/transactions/native", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if ans["code_url"] != "weixin://wxpay/bizpayurl?pr=JyC91EIz1" {
		t.Errorf("answer %v", ans)
	}
	body += " "
	_, err = c.DoJSON(context.Background(), http.MethodPost, "/v3/pay/transactions/native", map[string]any{})
	var se *wxpay.SignatureError
	if !errors.As(err, &se) || !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("one byte added: %v", err)
	}
	// The same genuine answer, 6 minutes later.
	body = v.Response.Body
	c.Now = func() time.Time { return time.Unix(ts+360, 0) }
	if _, err = c.DoJSON(context.Background(), http.MethodPost, "/v3/pay/transactions/native", map[string]any{}); !errors.As(err, &se) {
		t.Errorf("stale answer: %v", err)
	}
}

func TestV3Prepay(t *testing.T) {
	f := newV3Fake(t)
	c := f.v3Client()
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		switch r.URL.Path {
		case "/v3/pay/transactions/jsapi", "/v3/pay/transactions/app":
			return 200, map[string]any{"prepay_id": "wx26112221580621e9b071c00d9e093b0000"}
		case "/v3/pay/transactions/native":
			return 200, map[string]any{"code_url": "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}
		case "/v3/pay/transactions/h5":
			return 200, map[string]any{"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx2916263004719461949c84457c735b0000&package=2150917749"}
		}
		return 404, map[string]any{"code": "NOT_FOUND", "message": "no such path"}
	}
	order := map[string]any{
		"description": "Image形象店-深圳腾大-QQ公仔", "out_trade_no": "1217752501201407033233368018",
		"notify_url": "https://example.com/notify?a=1&b=2", "amount": map[string]any{"total": 100, "currency": "CNY"},
	}
	for _, tc := range []struct {
		clientType, path string
		infoKeys         []string
		answerKey        string
	}{
		{"mp-weixin", "/v3/pay/transactions/jsapi", []string{"appId", "nonceStr", "package", "paySign", "signType", "timeStamp"}, "prepayId"},
		{"app-plus", "/v3/pay/transactions/app", []string{"appid", "noncestr", "package", "partnerid", "prepayid", "sign", "timestamp"}, "prepayId"},
		{"native", "/v3/pay/transactions/native", []string{"codeUrl"}, "codeUrl"},
		{"h5", "/v3/pay/transactions/h5", []string{"mwebUrl"}, "mwebUrl"},
	} {
		ans, err := c.Prepay(context.Background(), tc.clientType, order)
		if err != nil {
			t.Fatalf("%s: %v", tc.clientType, err)
		}
		req, body := f.last()
		if req != "POST "+tc.path {
			t.Errorf("%s: request %s", tc.clientType, req)
		}
		var sent map[string]any
		if err := json.Unmarshal([]byte(body), &sent); err != nil || sent["appid"] != v3AppID || sent["mchid"] != v3MchID ||
			sent["notify_url"] != "https://example.com/notify?a=1&b=2" || !strings.Contains(body, `"total":100`) {
			t.Errorf("%s: body %s", tc.clientType, body)
		}
		info, err := c.OrderInfo(tc.clientType, ans)
		if err != nil {
			t.Fatalf("%s: %v", tc.clientType, err)
		}
		var keys []string
		for k := range info {
			keys = append(keys, k)
		}
		if !sameSet(keys, tc.infoKeys) {
			t.Errorf("%s: orderInfo %v", tc.clientType, info)
		}
		if tc.clientType == "mp-weixin" {
			msg := info["appId"] + "\n" + info["timeStamp"] + "\n" + info["nonceStr"] + "\n" + info["package"] + "\n"
			if err := rsaVerifySHA256(&v3Keys.merchant.PublicKey, []byte(msg), info["paySign"]); err != nil || info["signType"] != "RSA" {
				t.Errorf("paySign: %v", err)
			}
		}
		out := wxpay.V3PrepayAnswer(c, tc.clientType, ans)
		if out[tc.answerKey] == nil || out["appId"] != v3AppID || out["mchId"] != v3MchID || out["tradeType"] == "" {
			t.Errorf("%s: answer %v", tc.clientType, out)
		}
	}
	if _, err := c.Prepay(context.Background(), "mp-alipay", order); err == nil {
		t.Error("mp-alipay accepted")
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

// v3Transaction is an order query answer as WeChat Pay documents it.
const v3Transaction = `{"amount":{"currency":"CNY","payer_currency":"CNY","payer_total":90,"total":100},"appid":"wxd678efh567hg6787",
"attach":"自定义数据","bank_type":"CMC","mchid":"1900007291","out_trade_no":"1217752501201407033233368018",
"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"promotion_detail":[{"amount":10,"coupon_id":"109519","type":"CASH"}],
"scene_info":{"device_id":"013467007045764"},"success_time":"2018-06-08T10:34:56+08:00","trade_state":"SUCCESS",
"trade_state_desc":"支付成功","trade_type":"JSAPI","transaction_id":"1217752501201407033233368018"}`

// v3RefundJSON is a refund answer as WeChat Pay documents it.
const v3RefundJSON = `{"refund_id":"50000000382019052709732678859","out_refund_no":"1217752501201407033233368018",
"transaction_id":"1217752501201407033233368018","out_trade_no":"1217752501201407033233368018","channel":"ORIGINAL",
"user_received_account":"招商银行信用卡0403","success_time":"2020-12-01T16:18:12+08:00","create_time":"2020-12-01T16:18:12+08:00",
"status":"SUCCESS","funds_account":"UNSETTLED","amount":{"total":100,"refund":60,"from":[{"account":"AVAILABLE","amount":60}],
"payer_total":90,"payer_refund":50,"settlement_refund":60,"settlement_total":100,"discount_refund":10,"currency":"CNY","refund_fee":0}}`

func rawJSON(s string) any {
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	return v
}

func TestV3OrderQueryCloseRefund(t *testing.T) {
	f := newV3Fake(t)
	c := f.v3Client()
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/close"):
			return http.StatusNoContent, nil
		case strings.HasPrefix(r.URL.Path, "/v3/pay/transactions/"):
			if r.URL.Query().Get("mchid") != v3MchID {
				return 400, map[string]any{"code": "PARAM_ERROR", "message": "mchid"}
			}
			if strings.HasSuffix(r.URL.Path, "/missing") {
				return 404, map[string]any{"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
			}
			return 200, rawJSON(v3Transaction)
		case r.URL.Path == "/v3/refund/domestic/refunds" || strings.HasPrefix(r.URL.Path, "/v3/refund/domestic/refunds/"):
			return 200, rawJSON(v3RefundJSON)
		}
		return 404, map[string]any{"code": "NOT_FOUND", "message": "?"}
	}
	ctx := context.Background()

	ans, err := c.QueryOrder(ctx, "", "1217752501201407033233368018")
	if err != nil {
		t.Fatal(err)
	}
	if req, _ := f.last(); req != "GET /v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1900007291" {
		t.Errorf("request %s", req)
	}
	got := wxpay.V3OrderAnswer(ans)
	want := map[string]any{
		"appId": "wxd678efh567hg6787", "mchId": "1900007291", "outTradeNo": "1217752501201407033233368018",
		"transactionId": "1217752501201407033233368018", "tradeType": "JSAPI", "tradeState": "SUCCESS",
		"tradeStateDesc": "支付成功", "bankType": "CMC", "attach": "自定义数据", "timeEnd": "20180608103456",
		"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "totalFee": int64(100), "cashFee": int64(90), "feeType": "CNY",
		"cashFeeType": "CNY", "couponFee": int64(10), "couponCount": int64(1),
		"sceneInfo":       map[string]any{"deviceId": "013467007045764"},
		"promotionDetail": []any{map[string]any{"amount": int64(10), "couponId": "109519", "type": "CASH"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orderQuery\n got %#v\nwant %#v", got, want)
	}
	if _, err := c.QueryOrder(ctx, "4200000000201407033233368018", ""); err != nil {
		t.Fatal(err)
	}
	if req, _ := f.last(); req != "GET /v3/pay/transactions/id/4200000000201407033233368018?mchid=1900007291" {
		t.Errorf("request %s", req)
	}
	_, err = c.QueryOrder(ctx, "", "missing")
	var be *wxpay.BusinessError
	if !errors.As(err, &be) || be.Code != "ORDER_NOT_EXIST" || be.Msg != "订单不存在" {
		t.Errorf("missing order: %v", err)
	}
	var pe *wxpay.ParamError
	if _, err := c.QueryOrder(ctx, "", "a/../b"); !errors.As(err, &pe) {
		t.Errorf("path in out_trade_no: %v", err)
	}

	if err := c.CloseOrder(ctx, "1217752501201407033233368018"); err != nil {
		t.Fatal(err)
	}
	if req, body := f.last(); req != "POST /v3/pay/transactions/out-trade-no/1217752501201407033233368018/close" || body != `{"mchid":"1900007291"}` {
		t.Errorf("close: %s %s", req, body)
	}

	ans, err = c.Refund(ctx, map[string]any{"out_trade_no": "1217752501201407033233368018", "out_refund_no": "R1",
		"amount": map[string]any{"refund": 60, "total": 100, "currency": "CNY"}})
	if err != nil {
		t.Fatal(err)
	}
	if req, body := f.last(); req != "POST /v3/refund/domestic/refunds" || !strings.Contains(body, `"amount":{"currency":"CNY","refund":60,"total":100}`) {
		t.Errorf("refund: %s %s", req, body)
	}
	got = wxpay.V3RefundAnswer(ans)
	want = map[string]any{
		"refundId": "50000000382019052709732678859", "outRefundNo": "1217752501201407033233368018",
		"transactionId": "1217752501201407033233368018", "outTradeNo": "1217752501201407033233368018",
		"refundChannel": "ORIGINAL", "refundRecvAccout": "招商银行信用卡0403", "refundSuccessTime": "2020-12-01 16:18:12",
		"createTime": "2020-12-01T16:18:12+08:00", "refundStatus": "SUCCESS", "refundAccount": "REFUND_SOURCE_UNSETTLED_FUNDS",
		"totalFee": int64(100), "refundFee": int64(60), "cashFee": int64(90), "cashRefundFee": int64(50),
		"settlementRefundFee": int64(60), "settlementTotalFee": int64(100), "couponRefundFee": int64(10), "feeType": "CNY",
		"amount": map[string]any{"from": []any{map[string]any{"account": "AVAILABLE", "amount": int64(60)}}, "refundFee": int64(0)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("refund\n got %#v\nwant %#v", got, want)
	}

	ans, err = c.QueryRefund(ctx, "1217752501201407033233368018")
	if err != nil {
		t.Fatal(err)
	}
	if req, _ := f.last(); req != "GET /v3/refund/domestic/refunds/1217752501201407033233368018" {
		t.Errorf("refund query: %s", req)
	}
	got = wxpay.V3RefundQueryAnswer(ans)
	list, _ := got["refundList"].([]map[string]any)
	if len(list) != 1 || list[0]["refundFee"] != int64(60) || list[0]["refundId"] != "50000000382019052709732678859" ||
		list[0]["refundStatus"] != "SUCCESS" || got["refundCount"] != int64(1) || got["totalFee"] != int64(100) {
		t.Errorf("refund query answer %v", got)
	}
	// APIv3 statuses become v2's.
	for v3, v2 := range map[string]string{"CLOSED": "REFUNDCLOSE", "ABNORMAL": "CHANGE", "PROCESSING": "PROCESSING"} {
		if s := wxpay.V3RefundAnswer(map[string]any{"status": v3})["refundStatus"]; s != v2 {
			t.Errorf("status %s → %v, want %s", v3, s, v2)
		}
	}
}

func TestV3Bills(t *testing.T) {
	f := newV3Fake(t)
	c := f.v3Client()
	text := "交易时间,公众账号ID,商户号\n`2024-05-01 10:00:00,`wxd678efh567hg6787,`1900007291\n"
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(text))
	zw.Close()
	files := map[string][]byte{"plain": []byte(text), "gz": zipped.Bytes()}
	badHash := false
	f.v3Raw = func(r *http.Request) ([]byte, bool) {
		if r.URL.Path != "/v3/billdownload/file" {
			return nil, false
		}
		return files[r.URL.Query().Get("token")], true
	}
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		q := r.URL.Query()
		if r.URL.Path != "/v3/bill/tradebill" && r.URL.Path != "/v3/bill/fundflowbill" {
			return 404, map[string]any{"code": "NOT_FOUND", "message": "?"}
		}
		if q.Get("bill_date") == "2024-05-02" {
			return 400, map[string]any{"code": "NO_STATEMENT_EXIST", "message": "账单文件不存在"}
		}
		token := "plain"
		if q.Get("tar_type") == "GZIP" {
			token = "gz"
		}
		sum := sha1.Sum(files[token])
		h := hex.EncodeToString(sum[:])
		if badHash {
			h = strings.Repeat("0", 40)
		}
		return 200, map[string]any{"hash_type": "SHA1", "hash_value": h,
			"download_url": "https://api.mch.weixin.qq.com/v3/billdownload/file?token=" + token}
	}
	ctx := context.Background()
	got, err := c.TradeBill(ctx, "2024-05-01", "ALL", "")
	if err != nil || string(got) != text {
		t.Fatalf("trade bill: %q %v", got, err)
	}
	if req, _ := f.last(); req != "GET /v3/billdownload/file?token=plain" {
		t.Errorf("download request %s", req)
	}
	first := f.requestLine(2)
	if first != "GET /v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL" {
		t.Errorf("bill request %s", first)
	}
	got, err = c.FundflowBill(ctx, "2024-05-01", "BASIC", "GZIP")
	if err != nil || string(got) != text {
		t.Fatalf("fundflow bill (gzip): %q %v", got, err)
	}
	first = f.requestLine(2)
	if first != "GET /v3/bill/fundflowbill?account_type=BASIC&bill_date=2024-05-01&tar_type=GZIP" {
		t.Errorf("bill request %s", first)
	}
	_, err = c.TradeBill(ctx, "2024-05-02", "ALL", "")
	var be *wxpay.BusinessError
	if !errors.As(err, &be) || be.Code != "NO_STATEMENT_EXIST" {
		t.Errorf("no bill: %v", err)
	}
	badHash = true
	_, err = c.TradeBill(ctx, "2024-05-01", "ALL", "")
	var se *wxpay.SignatureError
	if !errors.As(err, &se) || !errors.Is(err, wxpay.ErrBillHash) {
		t.Errorf("bad hash: %v", err)
	}

	for in, want := range map[string]string{"20240501": "2024-05-01", "2024-05-01": "2024-05-01"} {
		if got, err := wxpay.V3BillDate(in); got != want || err != nil {
			t.Errorf("V3BillDate(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2024051", "2024/05/01", "2024-0501x", "abcdefgh"} {
		if _, err := wxpay.V3BillDate(in); err == nil {
			t.Errorf("V3BillDate(%q) accepted", in)
		}
	}
	for in, want := range map[string]string{"": "BASIC", "Basic": "BASIC", "Operation": "OPERATION", "Fees": "FEES", "FEES": "FEES"} {
		if got, err := wxpay.V3AccountType(in); got != want || err != nil {
			t.Errorf("V3AccountType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := wxpay.V3AccountType("Other"); err == nil {
		t.Error("account type Other accepted")
	}
}

// countingRefresher is a PlatformKeyRefresher whose refresh learns next.
type countingRefresher struct {
	mu        sync.Mutex
	keys      wxpay.StaticPlatformKeys
	next      map[string]*rsa.PublicKey
	refreshes atomic.Int32
}

func (r *countingRefresher) PlatformKey(serial string, at time.Time) (*rsa.PublicKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys.PlatformKey(serial, at)
}

func (r *countingRefresher) RefreshPlatformKeys(context.Context) error {
	r.refreshes.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.next {
		r.keys[k] = v
	}
	return nil
}

func TestV3AnswerChecks(t *testing.T) {
	f := newV3Fake(t)
	ctx := context.Background()
	status, answer := 200, any(map[string]any{"code_url": "weixin://wxpay/bizpayurl?pr=x"})
	f.v3Answer = func(*http.Request, []byte) (int, any) { return status, answer }
	call := func(c *wxpay.ClientV3) error {
		_, err := c.Prepay(ctx, "native", map[string]any{"description": "x"})
		return err
	}
	isSig := func(err error) bool { var se *wxpay.SignatureError; return errors.As(err, &se) }

	if err := call(f.v3Client()); err != nil {
		t.Fatalf("genuine answer: %v", err)
	}
	f.tamper = func(b []byte) []byte { return bytes.Replace(b, []byte("pr=x"), []byte("pr=y"), 1) }
	if err := call(f.v3Client()); !isSig(err) || !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("tampered answer: %v", err)
	}
	f.tamper = nil

	// Unknown serial: one refresh, then refused.
	f.platformKey, f.platformSerial = v3Keys.platform2, "PUB_KEY_ID_NEW"
	r := &countingRefresher{keys: wxpay.StaticPlatformKeys{v3Platform: &v3Keys.platform.PublicKey}}
	c := f.v3Client()
	c.PlatformKeys = r
	if err := call(c); !isSig(err) || !errors.Is(err, wxpay.ErrUnknownSerial) || r.refreshes.Load() != 1 {
		t.Errorf("unknown serial: %v (%d refreshes)", err, r.refreshes.Load())
	}
	// Unknown serial that a refresh learns (rotation): accepted.
	r.next = map[string]*rsa.PublicKey{"PUB_KEY_ID_NEW": &v3Keys.platform2.PublicKey}
	if err := call(c); err != nil || r.refreshes.Load() != 2 {
		t.Errorf("rotated key: %v (%d refreshes)", err, r.refreshes.Load())
	}
	if err := call(c); err != nil || r.refreshes.Load() != 2 {
		t.Errorf("known key: %v (%d refreshes)", err, r.refreshes.Load())
	}
	// A static set cannot refresh: refused at once.
	if err := call(f.v3Client()); !isSig(err) {
		t.Errorf("unknown serial, static keys: %v", err)
	}
	// The right serial with another key's signature.
	f.platformSerial = v3Platform
	if err := call(f.v3Client()); !isSig(err) || !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("wrong key: %v", err)
	}
	f.platformKey = v3Keys.platform

	f.clockOffset = -10 * time.Minute
	if err := call(f.v3Client()); !isSig(err) {
		t.Errorf("stale answer: %v", err)
	}
	c = f.v3Client()
	c.MaxSkew = 15 * time.Minute
	if err := call(c); err != nil {
		t.Errorf("stale answer within max_skew: %v", err)
	}
	f.clockOffset = 0

	f.unsigned = true
	if err := call(f.v3Client()); !isSig(err) || !errors.Is(err, signing.ErrMissingSignature) {
		t.Errorf("unsigned answer: %v", err)
	}
	// Unsigned failure: trusted only to say that the call failed.
	status, answer = 400, map[string]any{"code": "PARAM_ERROR", "message": "参数错误"}
	var be *wxpay.BusinessError
	if err := call(f.v3Client()); !errors.As(err, &be) || be.Code != "PARAM_ERROR" || be.Msg != "参数错误" {
		t.Errorf("unsigned failure: %v", err)
	}
	f.unsigned = false
	if err := call(f.v3Client()); !errors.As(err, &be) || be.Code != "PARAM_ERROR" {
		t.Errorf("signed failure: %v", err)
	}
	f.tamper = func(b []byte) []byte { return bytes.Replace(b, []byte("PARAM_ERROR"), []byte("ORDERPAID__"), 1) }
	if err := call(f.v3Client()); !isSig(err) {
		t.Errorf("tampered failure: %v", err)
	}
	f.tamper = nil
	status, answer = 502, nil
	var ue *wxpay.UpstreamError
	if err := call(f.v3Client()); !errors.As(err, &ue) {
		t.Errorf("502 without a body: %v", err)
	}
	status, answer = 200, []any{1}
	if err := call(f.v3Client()); !errors.As(err, &ue) {
		t.Errorf("not an object: %v", err)
	}
	c = f.v3Client()
	c.PlatformKeys = nil
	status, answer = 200, map[string]any{"code_url": "x"}
	if err := call(c); !isSig(err) || !errors.Is(err, wxpay.ErrNoPlatformKeys) {
		t.Errorf("no platform keys: %v", err)
	}
}

func TestV3Timeout(t *testing.T) {
	f := newV3Fake(t)
	f.v3Raw = func(r *http.Request) ([]byte, bool) {
		<-r.Context().Done() // never answers: only the caller's deadline ends it
		return nil, true
	}
	c := f.v3Client()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.QueryOrder(ctx, "", "T1")
	var ue *wxpay.UpstreamError
	if !errors.As(err, &ue) || !ue.Timeout {
		t.Errorf("timeout: %v", err)
	}
}

// Every amount a caller gets is integer fen: a signed answer with a
// fraction, a text or a negative amount is not used.
func TestV3AnswerAmountsAreFen(t *testing.T) {
	f := newV3Fake(t)
	c := f.v3Client()
	var amount any
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		return 200, map[string]any{
			"out_trade_no": "o1", "trade_state": "SUCCESS",
			"amount":           amount,
			"promotion_detail": []any{map[string]any{"coupon_id": "c1", "amount": 1}},
		}
	}
	ctx := context.Background()
	amount = map[string]any{"total": 100, "payer_total": 99, "currency": "CNY", "payer_currency": "CNY"}
	if _, err := c.QueryOrder(ctx, "", "o1"); err != nil {
		t.Fatalf("integer amounts refused: %v", err)
	}
	for _, bad := range []map[string]any{
		{"total": 1.5, "currency": "CNY"},
		{"total": 100, "payer_total": "3"},
		{"total": -1},
		{"total": 100, "from": []any{map[string]any{"account": "AVAILABLE", "amount": 0.5}}},
	} {
		amount = bad
		_, err := c.QueryOrder(ctx, "", "o1")
		var ue *wxpay.UpstreamError
		if !errors.As(err, &ue) {
			t.Errorf("amount %v: %v, want an upstream error", bad, err)
		}
	}
}

// An order id that would change the path (dot segments, slashes) is
// refused before anything is signed or sent.
func TestV3IDsStayInTheirPath(t *testing.T) {
	f := newV3Fake(t)
	c := f.v3Client()
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		t.Errorf("a request was sent: %s %s", r.Method, r.URL.Path)
		return 404, nil
	}
	ctx := context.Background()
	for _, id := range []string{"..", ".", "a/../b", "a/b", "a%2e", "a?b"} {
		if _, err := c.QueryOrder(ctx, "", id); err == nil {
			t.Errorf("QueryOrder(%q) was accepted", id)
		}
		if err := c.CloseOrder(ctx, id); err == nil {
			t.Errorf("CloseOrder(%q) was accepted", id)
		}
		if _, err := c.QueryRefund(ctx, id); err == nil {
			t.Errorf("QueryRefund(%q) was accepted", id)
		}
	}
}
