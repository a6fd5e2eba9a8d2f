package alipay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/vectors"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const payAppID = "2021000117600000"

// payVectorFile reads a file of the published vectors (shared/vectors
// beside the repository, or UNICLOUD_VECTORS).
func payVectorFile(tb testing.TB, name string) string {
	tb.Helper()
	return string(vectors.Read(tb, name))
}

// payKeys are the application key pair of the published vectors.
func payKeys(tb testing.TB) (*rsa.PrivateKey, *rsa.PublicKey) {
	tb.Helper()
	priv, err := signing.ParseRSAPrivateKey(payVectorFile(tb, "keys/app-private-key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := signing.ParseRSAPublicKey(payVectorFile(tb, "keys/app-public-key.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	return priv, pub
}

var alipayKey struct {
	once sync.Once
	key  *rsa.PrivateKey
}

// alipayKeys are a stand-in for Alipay's own key pair, distinct from the
// app's (payKeys), made once: answers signed with the app's key would hide
// a client that verifies them with the app's key.
func alipayKeys(tb testing.TB) (*rsa.PrivateKey, *rsa.PublicKey) {
	tb.Helper()
	alipayKey.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		alipayKey.key = k
	})
	return alipayKey.key, &alipayKey.key.PublicKey
}

// fakeGateway is a stand-in for Alipay's gateway: it checks each request's
// signature with the app's public key and answers
// {"<method>_response": member, "sign": …} signed with the "Alipay" key.
type fakeGateway struct {
	t      testing.TB
	priv   *rsa.PrivateKey // the app's
	pub    *rsa.PublicKey  // the app's
	ali    *rsa.PrivateKey // Alipay's
	srv    *httptest.Server
	answer func(method string, form url.Values) (member string, sign bool)
	// raw, when set, writes the whole answer instead (failures at the
	// HTTP level, answers of another shape).
	raw  func(w http.ResponseWriter, r *http.Request, form url.Values)
	last url.Values
}

func newFakeGateway(t testing.TB) *fakeGateway {
	g := &fakeGateway{t: t}
	g.priv, g.pub = payKeys(t)
	g.ali, _ = alipayKeys(t)
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		g.t.Errorf("request body: %v", err)
		return
	}
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	// Requests are signed over every parameter but sign, sign_type kept.
	if err := signing.AlipayVerify(g.pub, []byte(signing.AlipaySignContent(params, true)), params["sign"], params["sign_type"]); err != nil {
		g.t.Errorf("request signature: %v", err)
	}
	g.last = form
	if g.raw != nil {
		g.raw(w, r, form)
		return
	}
	method := form.Get("method")
	member, sign := g.answer(method, form)
	out := `{"` + alipay.ResponseKey(method) + `":` + member
	if sign {
		s, err := signing.AlipaySign(g.ali, []byte(member), signing.SignTypeRSA2)
		if err != nil {
			g.t.Fatal(err)
		}
		out += `,"sign":"` + s + `"`
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	io.WriteString(w, out+"}")
}

func (g *fakeGateway) client() *alipay.Client {
	return &alipay.Client{AppID: payAppID, PrivateKey: g.priv, AlipayPublicKey: &g.ali.PublicKey, Endpoint: g.srv.URL, HTTP: g.srv.Client()}
}

// A request signed with the PKCS#1 and the PKCS#8 form of the vectors' app
// key carries the same RSA2 signature (PKCS#1 v1.5 is deterministic),
// which the app public key verifies and another key does not.
func TestRequestSignatureKeyForms(t *testing.T) {
	priv, pub := payKeys(t)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	bare := base64.StdEncoding.EncodeToString(der)
	now := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	var signs []string
	for _, k := range []string{payVectorFile(t, "keys/app-private-key.pem"), pkcs8, bare} {
		key, err := signing.ParseRSAPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		c := &alipay.Client{AppID: payAppID, PrivateKey: key, Now: now}
		form, err := c.SignedParams(alipay.MethodTradeQuery, []byte(`{"out_trade_no":"20150320010101001"}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if form.Get("timestamp") != "2024-05-01 20:00:00" || form.Get("sign_type") != "RSA2" || form.Get("charset") != "utf-8" ||
			form.Get("version") != "1.0" || form.Get("format") != "JSON" || form.Get("app_id") != payAppID {
			t.Errorf("public parameters %v", form)
		}
		signs = append(signs, form.Get("sign"))
		params := map[string]string{}
		for k := range form {
			params[k] = form.Get(k)
		}
		if err := signing.AlipayVerify(pub, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err != nil {
			t.Errorf("app public key: %v", err)
		}
		other, err := signing.ParseRSAPublicKey(payVectorFile(t, "keys/alipay-public-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := signing.AlipayVerify(other, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err == nil {
			t.Error("another key verifies the request")
		}
	}
	if signs[0] != signs[1] || signs[1] != signs[2] {
		t.Errorf("PKCS#1, PKCS#8 and bare base64 signatures differ: %v", signs)
	}
	// The exact signature, as openssl makes it over the sorted parameters
	// (sign_type kept): printf '%s' 'app_id=2021000117600000&biz_content=
	// {"out_trade_no":"20150320010101001"}&charset=utf-8&format=JSON&method=
	// alipay.trade.query&sign_type=RSA2&timestamp=2024-05-01 20:00:00&
	// version=1.0' | openssl dgst -sha256 -sign keys/app-private-key.pem |
	// base64 -w0.
	const want = "c58Y6aadeTQMPA3Wjy7cFT1+GHLCDS6R91yf4MvYo2zFuAbsyztROOD1KS/E8oqHYViWwI67G48mrq84uNl4HhwsNqU+Qi1F98JfapSiDWZHsB9bCww4SVpLquoD2r6uB/954TiU/kjudeq8/8Jy4Hw12yI1WN1gIqOBizIsfGp7a5U2n7qyCnEG4EhytPZhP3HyAD0ktC3TLgfWuYBKqaoswUVNW1z6PSFPV4Rxyl/jETK1PASheYZFJOPlo9iY60+yskqoxWOjDBbjGJVZuLD5YLgTdYsznpUiQCAUski3wj4nJZ7GzAlN2kplM9ulL3EyszoeRb9IR/1+fPAbCQ=="
	if signs[0] != want {
		t.Errorf("request signature\n got %s\nwant %s", signs[0], want)
	}
}

func TestAppPayOrderString(t *testing.T) {
	priv, pub := payKeys(t)
	c := &alipay.Client{AppID: payAppID, PrivateKey: priv}
	s, err := c.OrderString(alipay.MethodTradeAppPay,
		[]byte(`{"out_trade_no":"70501111111S001111119","total_amount":"9.00","subject":"大乐透","product_code":"QUICK_MSECURITY_PAY"}`),
		map[string]string{"notify_url": "https://example.com/notify/alipay?a=1&b=2"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	if q.Get("method") != "alipay.trade.app.pay" || q.Get("notify_url") != "https://example.com/notify/alipay?a=1&b=2" ||
		!strings.Contains(q.Get("biz_content"), `"total_amount":"9.00"`) {
		t.Errorf("order string %s", s)
	}
	if strings.Contains(s, " ") || strings.Contains(s, "notify_url=https://") {
		t.Errorf("order string is not URL-encoded: %s", s)
	}
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	if err := signing.AlipayVerify(pub, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err != nil {
		t.Errorf("order string signature: %v", err)
	}
}

func TestExecuteVerifiesTheRawMember(t *testing.T) {
	g := newFakeGateway(t)
	// Escapes and spacing are signed as sent: the member is not re-encoded
	// before verification.
	member := `{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"6823789339978248",` +
		`"buyer_logon_id":"159****5620","trade_status":"TRADE_SUCCESS","total_amount":"88.88","receipt_amount":"15.25",` +
		`"buyer_pay_amount":"8.88","point_amount":"10","invoice_amount":"12.11","send_pay_date":"2014-11-27 15:45:57",` +
		`"store_name":"证大五道口店\/1","buyer_user_id":"2088101117955611",` +
		`"fund_bill_list":[{"fund_channel":"ALIPAYACCOUNT","amount":"10.00","real_amount":"11.21"}]}`
	g.answer = func(method string, form url.Values) (string, bool) {
		if method != alipay.MethodTradeQuery {
			t.Errorf("method %s", method)
		}
		return member, true
	}
	c := g.client()
	fields, err := c.Execute(context.Background(), alipay.MethodTradeQuery, []byte(`{"out_trade_no":"6823789339978248"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.last.Get("biz_content") != `{"out_trade_no":"6823789339978248"}` {
		t.Errorf("biz_content %q", g.last.Get("biz_content"))
	}
	got, err := alipay.Answer(fields)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"transactionId": "2013112011001004330000121536", "outTradeNo": "6823789339978248", "buyerLogonId": "159****5620",
		"tradeState": "SUCCESS", "totalFee": int64(8888), "cashFee": int64(1525), "buyerPayAmount": int64(888),
		"pointAmount": int64(1000), "invoiceAmount": int64(1211), "sendPayDate": "2014-11-27 15:45:57",
		"storeName": "证大五道口店/1", "buyerUserId": "2088101117955611",
		"fundBillList": []any{map[string]any{"fundChannel": "ALIPAYACCOUNT", "amount": int64(1000), "realAmount": int64(1121)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestExecuteFailures(t *testing.T) {
	cases := []struct {
		name   string
		member string
		sign   bool
		tamper bool
		check  func(t *testing.T, err error)
	}{
		{"business failure signed", `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`, true, false,
			func(t *testing.T, err error) {
				var be *alipay.BusinessError
				if !errors.As(err, &be) || be.ErrCode() != "ACQ.TRADE_NOT_EXIST" || be.ErrMsg() != "交易不存在" || be.Fields == nil {
					t.Errorf("err %v", err)
				}
			}},
		{"business failure unsigned", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}`, false, false,
			func(t *testing.T, err error) {
				var be *alipay.BusinessError
				if !errors.As(err, &be) || be.ErrCode() != "isv.invalid-app-id" || be.Fields != nil {
					t.Errorf("err %v", err)
				}
			}},
		{"success unsigned", `{"code":"10000","msg":"Success","trade_no":"1"}`, false, false,
			func(t *testing.T, err error) {
				var se *alipay.SignatureError
				if !errors.As(err, &se) || !errors.Is(err, signing.ErrMissingSignature) {
					t.Errorf("err %v", err)
				}
			}},
		{"success tampered", `{"code":"10000","msg":"Success","total_amount":"0.01"}`, true, true,
			func(t *testing.T, err error) {
				var se *alipay.SignatureError
				if !errors.As(err, &se) || !errors.Is(err, signing.ErrBadSignature) {
					t.Errorf("err %v", err)
				}
			}},
		{"failure tampered", `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.X"}`, true, true,
			func(t *testing.T, err error) {
				var se *alipay.SignatureError
				if !errors.As(err, &se) {
					t.Errorf("err %v", err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.answer = func(string, url.Values) (string, bool) { return tc.member, tc.sign }
			c := g.client()
			if tc.tamper {
				// Signed by the gateway, then changed on the way.
				g.answer = func(string, url.Values) (string, bool) { return tc.member, true }
				orig := g.srv.Config.Handler
				g.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					rec := httptest.NewRecorder()
					orig.ServeHTTP(rec, r)
					w.Write([]byte(strings.Replace(rec.Body.String(), `"code"`, ` "code"`, 1)))
				})
			}
			_, err := c.Execute(context.Background(), alipay.MethodTradeQuery, []byte(`{}`), nil)
			tc.check(t, err)
		})
	}
}

func TestExecuteUpstream(t *testing.T) {
	g := newFakeGateway(t)
	g.raw = func(w http.ResponseWriter, r *http.Request, form url.Values) {
		switch form.Get("method") {
		case alipay.MethodTradeQuery:
			w.WriteHeader(http.StatusInternalServerError)
		case alipay.MethodTradeClose:
			io.WriteString(w, "<html>not json</html>")
		case alipay.MethodTradeCancel:
			io.WriteString(w, `{"other_response":{"code":"10000"},"sign":"x"}`)
		case alipay.MethodTradeRefund:
			<-r.Context().Done() // never answers: only the client's timeout ends it
		}
	}
	c := g.client()
	c.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
	for _, tc := range []struct {
		method  string
		timeout bool
	}{{alipay.MethodTradeQuery, false}, {alipay.MethodTradeClose, false}, {alipay.MethodTradeCancel, false}, {alipay.MethodTradeRefund, true}} {
		_, err := c.Execute(context.Background(), tc.method, []byte(`{}`), nil)
		var ue *alipay.UpstreamError
		if !errors.As(err, &ue) || ue.Timeout != tc.timeout {
			t.Errorf("%s: err %v", tc.method, err)
		}
	}
}

func TestAnswerRenames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields string
		want   map[string]any
	}{
		{"refund", `{"code":"10000","msg":"Success","trade_no":"2014112611001004680073956707","out_trade_no":"6823789339978248",` +
			`"buyer_logon_id":"159****5620","fund_change":"Y","refund_fee":"88.88","send_back_fee":"1.8",` +
			`"refund_detail_item_list":[{"fund_channel":"ALIPAYACCOUNT","amount":"10","real_amount":"11.21","fund_type":"DEBIT_CARD"}]}`,
			map[string]any{"transactionId": "2014112611001004680073956707", "outTradeNo": "6823789339978248", "buyerLogonId": "159****5620",
				"fundChange": "Y", "refundFee": int64(8888), "cashRefundFee": int64(180),
				"refundDetailItemList": []any{map[string]any{"fundChannel": "ALIPAYACCOUNT", "amount": int64(1000), "realAmount": int64(1121), "fundType": "DEBIT_CARD"}}}},
		{"refund query", `{"code":"10000","msg":"Success","trade_no":"2014112611001004680073956707","out_trade_no":"20150320010101001",` +
			`"out_request_no":"20150320010101001","refund_reason":"用户退款请求","total_amount":"100.20","refund_amount":"12.33","refund_status":"REFUND_SUCCESS",` +
			`"refund_royaltys":[{"refund_amount":"10.1","royalty_type":"transfer","result_code":"SUCCESS"}]}`,
			map[string]any{"transactionId": "2014112611001004680073956707", "outTradeNo": "20150320010101001", "outRefundNo": "20150320010101001",
				"refundDesc": "用户退款请求", "totalFee": int64(10020), "refundFee": int64(1233), "refundStatus": "REFUND_SUCCESS",
				"refundRoyaltys": []any{map[string]any{"refundAmount": int64(1010), "royaltyType": "transfer", "resultCode": "SUCCESS"}}}},
		{"create", `{"code":"10000","msg":"Success","out_trade_no":"20150320010101001","trade_no":"2015042321001004720200028594"}`,
			map[string]any{"transactionId": "2015042321001004720200028594", "outTradeNo": "20150320010101001"}},
		{"cancel", `{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"6823789339978248","retry_flag":"N","action":"close"}`,
			map[string]any{"transactionId": "2013112011001004330000121536", "outTradeNo": "6823789339978248", "retryFlag": "N", "action": "close"}},
	} {
		var fields map[string]any
		dec := json.NewDecoder(strings.NewReader(tc.fields))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			t.Fatal(err)
		}
		got, err := alipay.Answer(fields)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", tc.name, got, tc.want)
		}
	}
	if _, err := alipay.Answer(map[string]any{"total_amount": "1.234"}); err == nil {
		t.Error("1.234 yuan accepted")
	}
}

func TestBuyerField(t *testing.T) {
	for id, want := range map[string]string{
		"2088102146225135": "buyer_id", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5": "buyer_open_id",
		"20881021462251350": "buyer_open_id", "2089102146225135": "buyer_open_id",
	} {
		if got := alipay.BuyerField(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}

// The amount table of the issue: fen → yuan → fen round trips, and what is
// refused.
func TestPayAmountTable(t *testing.T) {
	for _, fen := range []int64{0, 1, 10, 100, 123456, 999999999} {
		y := alipay.FenToYuan(fen)
		back, err := alipay.YuanToFen(y)
		if err != nil || back != fen {
			t.Errorf("%d → %q → %d, %v", fen, y, back, err)
		}
	}
	for y, want := range map[string]int64{"0.1": 10, "0.10": 10, "1234.56": 123456, "0.01": 1, "9999999.99": 999999999, "0": 0} {
		got, err := alipay.YuanToFen(y)
		if err != nil || got != want {
			t.Errorf("%q → %d, %v; want %d", y, got, err, want)
		}
	}
	for _, y := range []string{"1.234", "-1", "-0.01", "1e2", "0.1e1", " 1", "1.", ".5", "NaN", "+1", "1,00", "0x10"} {
		if got, err := alipay.YuanToFen(y); err == nil {
			t.Errorf("%q accepted as %d", y, got)
		}
	}
	if got := strings.Join([]string{alipay.FenToYuan(1), alipay.FenToYuan(10), alipay.FenToYuan(123456)}, " "); got != "0.01 0.10 1234.56" {
		t.Errorf("FenToYuan: %s", got)
	}
}

func signMember(tb testing.TB, priv *rsa.PrivateKey, member string) string {
	tb.Helper()
	s, err := signing.AlipaySign(priv, []byte(member), signing.SignTypeRSA2)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// alipay.system.oauth.token answers success without a code: it is a
// success, verified like any other.
func TestParseAnswerWithoutCode(t *testing.T) {
	priv, pub := payKeys(t)
	member := `{"user_id":"2088102150477652","open_id":"074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5","access_token":"20120823ac6ffaa4d2d84e7384bf983531473993","expires_in":3600}`
	c := &alipay.Client{AppID: payAppID, AlipayPublicKey: pub}
	body := []byte(`{"alipay_system_oauth_token_response":` + member + `,"sign":"` + signMember(t, priv, member) + `"}`)
	f, err := c.ParseAnswer(alipay.MethodOAuthToken, body)
	if err != nil || f["user_id"] != "2088102150477652" || f["expires_in"] != json.Number("3600") {
		t.Fatalf("%v %v", f, err)
	}
	// An error_response is a failure even when signed, and when unsigned.
	errMember := `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}`
	for _, body := range []string{
		`{"error_response":` + errMember + `,"sign":"` + signMember(t, priv, errMember) + `"}`,
		`{"error_response":` + errMember + `}`,
	} {
		_, err := c.ParseAnswer(alipay.MethodOAuthToken, []byte(body))
		var be *alipay.BusinessError
		if !errors.As(err, &be) || be.ErrCode() != "isv.code-invalid" {
			t.Errorf("%s: %v", body, err)
		}
	}
	// Unsigned success is refused.
	if _, err := c.ParseAnswer(alipay.MethodOAuthToken, []byte(`{"alipay_system_oauth_token_response":`+member+`}`)); !errors.Is(err, signing.ErrMissingSignature) {
		t.Errorf("unsigned success: %v", err)
	}
}

// A client given the app's own public key as AlipayPublicKey (a key
// mix-up) refuses Alipay's answers: they are signed with Alipay's key.
func TestExecuteAppKeyAsAlipayKey(t *testing.T) {
	g := newFakeGateway(t)
	g.answer = func(string, url.Values) (string, bool) {
		return `{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","trade_status":"TRADE_SUCCESS"}`, true
	}
	if _, err := g.client().Execute(context.Background(), alipay.MethodTradeQuery, []byte(`{"out_trade_no":"1"}`), nil); err != nil {
		t.Fatalf("with Alipay's public key: %v", err)
	}
	mixed := g.client()
	mixed.AlipayPublicKey = g.pub
	var se *alipay.SignatureError
	if _, err := mixed.Execute(context.Background(), alipay.MethodTradeQuery, []byte(`{"out_trade_no":"1"}`), nil); !errors.As(err, &se) {
		t.Fatalf("with the app's public key as Alipay's: %v, want a *SignatureError", err)
	}
}
