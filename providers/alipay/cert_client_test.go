package alipay_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// certs loads the test PKI with the given Alipay certificates.
func certs(tb testing.TB, alipayCerts ...string) *alipay.Certs {
	tb.Helper()
	p := newPKI(tb)
	cs, err := alipay.LoadCerts(alipay.CertOptions{AppCert: p.appCert, AlipayCerts: alipayCerts, RootCert: p.bundle, PrivateKey: p.appKey, Now: pkiNow})
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

// In certificate mode the request's signed string carries app_cert_sn and
// alipay_root_cert_sn, sorted among the other parameters.
func TestCertModeRequestCarriesSNs(t *testing.T) {
	p := newPKI(t)
	appSN := hexSN(testInterDN, appSerialDec)
	rootSN := hexSN(testRootDN, rootSerialDec) + "_" + hexSN(testRoot2DN, root2SerialDec)
	c := &alipay.Client{AppID: payAppID, PrivateKey: p.appKey, Certs: certs(t, p.alipayCert),
		Now: func() time.Time { return time.Date(2026, 6, 1, 2, 3, 4, 0, time.UTC) }}
	form, err := c.SignedParams("alipay.trade.query", []byte(`{"out_trade_no":"T1"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if form.Get("app_cert_sn") != appSN || form.Get("alipay_root_cert_sn") != rootSN {
		t.Fatalf("app_cert_sn %q, alipay_root_cert_sn %q; want %q, %q", form.Get("app_cert_sn"), form.Get("alipay_root_cert_sn"), appSN, rootSN)
	}
	content := "alipay_root_cert_sn=" + rootSN + "&app_cert_sn=" + appSN + "&app_id=" + payAppID +
		`&biz_content={"out_trade_no":"T1"}&charset=utf-8&format=JSON&method=alipay.trade.query&sign_type=RSA2&timestamp=2026-06-01 10:03:04&version=1.0`
	if err := signing.AlipayVerify(&p.appKey.PublicKey, []byte(content), form.Get("sign"), signing.SignTypeRSA2); err != nil {
		t.Fatalf("the sign is not over %q: %v", content, err)
	}
	// The order string of app.pay carries them too.
	s, err := c.OrderString("alipay.trade.app.pay", []byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(s)
	if q.Get("app_cert_sn") != appSN || q.Get("alipay_root_cert_sn") != rootSN {
		t.Errorf("order string %q", s)
	}
}

// Answers are verified with the key of the certificate their
// alipay_cert_sn names; an SN that is not configured is refused.
func TestCertModeAnswers(t *testing.T) {
	p := newPKI(t)
	cur, next := hexSN(testInterDN, alipaySerialDec), hexSN(testInterDN, nextSerialDec)
	member := `{"code":"10000","msg":"Success","trade_no":"2026060122001","out_trade_no":"T1","trade_status":"TRADE_SUCCESS","total_amount":"0.10"}`
	answer := func(key *rsa.PrivateKey, sn string) []byte {
		b := `{"alipay_trade_query_response":` + member
		if sn != "" {
			b += `,"alipay_cert_sn":"` + sn + `"`
		}
		return []byte(b + `,"sign":"` + signMember(t, key, member) + `"}`)
	}
	one := certs(t, p.alipayCert)
	both := certs(t, p.alipayCert, p.nextCert)
	cases := []struct {
		name    string
		certs   *alipay.Certs
		body    []byte
		unknown bool // refused as naming an unknown SN
		ok      bool
	}{
		{"current SN", one, answer(p.alipayKey, cur), false, true},
		{"no SN, the only certificate", one, answer(p.alipayKey, ""), false, true},
		{"next SN during a rotation", both, answer(p.nextKey, next), false, true},
		{"current SN during a rotation", both, answer(p.alipayKey, cur), false, true},
		{"no SN during a rotation", both, answer(p.nextKey, ""), false, true},
		{"next SN not configured yet", one, answer(p.nextKey, next), true, false},
		{"SN of a certificate nobody has", both, answer(p.alipayKey, hexSN(testInterDN, "1")), true, false},
		{"signed with the other certificate's key", both, answer(p.nextKey, cur), false, false},
		{"signed with the app's key", one, answer(p.appKey, cur), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &alipay.Client{AppID: payAppID, Certs: tc.certs}
			fields, err := c.ParseAnswer("alipay.trade.query", tc.body)
			if tc.ok {
				if err != nil || fields["trade_no"] != "2026060122001" {
					t.Fatalf("%v, %v", fields, err)
				}
				return
			}
			var se *alipay.SignatureError
			if !errors.As(err, &se) || fields != nil {
				t.Fatalf("want a SignatureError, got %v, %v", fields, err)
			}
			if errors.Is(err, alipay.ErrUnknownCertSN) != tc.unknown {
				t.Errorf("unknown SN %v: %v", tc.unknown, err)
			}
			// The caller's message (and so the log line) names the SN
			// received and the fix when the certificate is unknown.
			sn := gjson.GetBytes(tc.body, "alipay_cert_sn").String()
			if named := strings.Contains(se.Msg(), "not a configured alipay_cert") && sn != "" && strings.Contains(se.Msg(), sn); named != tc.unknown {
				t.Errorf("message %q (SN %q)", se.Msg(), sn)
			}
		})
	}
}

// Over the wire: the gateway receives the SNs inside the signed request,
// and its answer (signed with the Alipay certificate's key) is used.
func TestCertModeExecute(t *testing.T) {
	p := newPKI(t)
	g := newFakeGateway(t)
	g.answer = func(string, url.Values) (string, bool) {
		return `{"code":"10000","msg":"Success","trade_no":"X1"}`, true
	}
	c := g.client()
	c.AlipayPublicKey = nil
	c.Certs = certs(t, p.alipayCert)
	fields, err := c.Execute(context.Background(), "alipay.trade.query", []byte(`{"out_trade_no":"T1"}`), nil)
	if err != nil || fields["trade_no"] != "X1" {
		t.Fatalf("%v, %v", fields, err)
	}
	if g.last.Get("app_cert_sn") != hexSN(testInterDN, appSerialDec) || !strings.Contains(g.last.Get("alipay_root_cert_sn"), "_") {
		t.Errorf("the gateway received %v", g.last)
	}
}

// Notifications in certificate mode are verified with the Alipay
// certificates' keys, over the bytes as received.
func TestCertModeNotify(t *testing.T) {
	p := newPKI(t)
	next := hexSN(testInterDN, nextSerialDec)
	// The sorted string without sign and sign_type, written by hand.
	content := "app_id=2021000117650139&gmt_payment=2023-09-12 10:25:03&notify_id=N1&notify_time=2023-09-12 10:25:04" +
		"&notify_type=trade_status_sync&out_trade_no=T1&total_amount=0.10&trade_no=2023091222001&trade_status=TRADE_SUCCESS"
	body := func(key *rsa.PrivateKey, extra string) []byte {
		s, err := signing.AlipaySign(key, []byte(content), signing.SignTypeRSA2)
		if err != nil {
			t.Fatal(err)
		}
		form := strings.ReplaceAll(strings.ReplaceAll(content, " ", "+"), ":", "%3A")
		return []byte(form + extra + "&sign_type=RSA2&sign=" + url.QueryEscape(s))
	}
	v := &alipay.NotifyVerifier{AppID: "2021000117650139", Certs: certs(t, p.alipayCert, p.nextCert)}
	for _, key := range []*rsa.PrivateKey{p.alipayKey, p.nextKey} {
		n, err := v.Verify(body(key, ""))
		if err != nil {
			t.Fatal(err)
		}
		if e := n.Event.(*alipay.NotifyPayment); e.TotalFee != 10 || e.OutTradeNo != "T1" {
			t.Errorf("%+v", e)
		}
	}
	if _, err := v.Verify(body(p.appKey, "")); ntCheckOf(err) != alipay.CheckSignature {
		t.Errorf("signed with the app's key: %v", err)
	}
	only := &alipay.NotifyVerifier{AppID: "2021000117650139", Certs: certs(t, p.alipayCert)}
	if _, err := only.Verify(body(p.nextKey, "")); ntCheckOf(err) != alipay.CheckSignature {
		t.Errorf("signed with a certificate not configured: %v", err)
	}
	// A notification naming an unknown certificate (the SN is then part of
	// the signed string, so content is re-signed with it).
	content = "alipay_cert_sn=" + next + "&" + content
	if _, err := only.Verify(body(p.nextKey, "")); ntCheckOf(err) != alipay.CheckSignature || !strings.Contains(err.Error(), "alipay_cert_sn") {
		t.Errorf("an unknown alipay_cert_sn: %v", err)
	}
	if _, err := v.Verify(body(p.nextKey, "")); err != nil {
		t.Errorf("a known alipay_cert_sn: %v", err)
	}
}

// Through the payment API: an answer naming an Alipay certificate that is
// not configured is the signature failure the gateway answers 502
// UNICLOUD_UPSTREAM_BAD_SIGNATURE, its content unused.
func TestCertModeUnknownSNIsBadSignature(t *testing.T) {
	p := newPKI(t)
	member := `{"code":"10000","msg":"Success","trade_no":"X1","out_trade_no":"T1","trade_status":"TRADE_SUCCESS","total_amount":"0.10"}`
	g := newFakeGateway(t)
	g.pub = &p.appKey.PublicKey
	g.raw = func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		io.WriteString(w, `{"alipay_trade_query_response":`+member+`,"alipay_cert_sn":"`+hexSN(testInterDN, nextSerialDec)+`","sign":"`+signMember(t, p.nextKey, member)+`"}`)
	}
	c := &alipay.Client{AppID: payAppID, PrivateKey: p.appKey, Certs: certs(t, p.alipayCert), Endpoint: g.srv.URL, HTTP: g.srv.Client()}
	req, err := pay.NewOrderQueryRequest(pay.Params{"outTradeNo": "T1"})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := (&alipay.Pay{Client: c}).OrderQuery(context.Background(), req)
	if !errors.Is(err, pay.ErrBadSignature) || ans != nil {
		t.Fatalf("%v, %v; want the bad-signature kind", ans, err)
	}
}
