package wxpay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers/notify"
	"github.com/caddy-unicloud/unicloud/signing"
)

func TestNotifyAccepted(t *testing.T) {
	o := notifyTestOrder()
	type tcase struct {
		name, provider, kind string
		build                func() (*emulator.NotifyMessage, error)
		status               int
		answer               string
		want                 map[string]any
	}
	payment := map[string]any{"outTradeNo": "ORDER-1", "transactionId": "4200000000000000001", "totalFee": 100.0,
		"cashFee": 90.0, "feeType": "CNY", "timeEnd": "20240102110405", "openid": "oUser1", "tradeState": "SUCCESS"}
	refund := map[string]any{"outTradeNo": "ORDER-1", "transactionId": "4200000000000000001", "outRefundNo": "REFUND-1",
		"totalFee": 100.0, "refundFee": 40.0, "refundStatus": "SUCCESS"}
	// A v2 refund made by the emulator, whose refund query confirms it.
	v2Refund := notifyTestWxpay().refund(t, "ORDER-1", "REFUND-1", 100, 40)
	v2RefundWant := map[string]any{"transactionId": v2Refund.transactionID}
	for k, v := range refund {
		if k != "transactionId" {
			v2RefundWant[k] = v
		}
	}
	cases := []tcase{
		{"v2 payment", "wxpay", "payment", func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "MD5")
		}, 200, v2Success, payment},
		{"v2 payment HMAC", "wxpay", "payment", func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "HMAC-SHA256")
		}, 200, v2Success, payment},
		{"v2 refund", "wxpay", "refund", func() (*emulator.NotifyMessage, error) {
			return v2Refund.m, nil
		}, 200, v2Success, v2RefundWant},
		{"v3 transaction", "wxpay", "payment", func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV3TransactionNotification(o, notifyTestSigner(t))
		}, 204, "", payment},
		{"v3 refund", "wxpay", "refund", func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV3RefundNotification(o, notifyTestSigner(t))
		}, 204, "", refund},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := provisionNotify(t, wxpayNotify(t))
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			next := &recordingNext{}
			w := serveNotify(t, n, next, m, http.Header{"X-Unicloud-Signature": {"sha256=forged"},
				"X-Unicloud-Provider": {"alipay"}, "x-unicloud-whatever": {"1"}})

			if w.Code != tc.status || w.Body.String() != tc.answer {
				t.Fatalf("provider got %d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.answer)
			}
			if w.Header().Get("X-Backend") != "" {
				t.Error("backend headers reached the provider")
			}
			if next.calls != 1 || next.method != http.MethodPost || next.path != "/notify/x" {
				t.Fatalf("next: %d calls, %s %s", next.calls, next.method, next.path)
			}
			// Headers.
			h := next.header
			if h.Get("Content-Type") != "application/json" || h.Get("X-Unicloud-Provider") != tc.provider ||
				h.Get("X-Unicloud-Notify-Type") != tc.kind || h.Get("x-unicloud-whatever") != "" {
				t.Errorf("backend headers: %v", h)
			}
			if next.length != int64(len(next.body)) || h.Get("Content-Length") != strconv.Itoa(len(next.body)) {
				t.Errorf("content length %d / %s for %d bytes", next.length, h.Get("Content-Length"), len(next.body))
			}
			if want := "sha256=" + signing.HMACSHA256Hex([]byte(notifyTestSecret), next.body); h.Get("X-Unicloud-Signature") != want {
				t.Errorf("X-Unicloud-Signature %q, want %q", h.Get("X-Unicloud-Signature"), want)
			}
			// Body.
			var ev map[string]any
			if err := json.Unmarshal(next.body, &ev); err != nil {
				t.Fatalf("%v: %s", err, next.body)
			}
			if ev["provider"] != tc.provider || ev["type"] != tc.kind {
				t.Errorf("event %s", next.body)
			}
			for k, v := range tc.want {
				if ev[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, ev[k], v, next.body)
				}
			}
			if _, ok := ev["raw"].(map[string]any); !ok {
				t.Errorf("no raw: %s", next.body)
			}
		})
	}
}

func TestNotifyBackendFailed(t *testing.T) {
	o := notifyTestOrder()
	for _, tc := range []struct {
		name string
		next *recordingNext
	}{
		{"500", &recordingNext{status: 500}},
		{"404", &recordingNext{status: 404}},
		{"302", &recordingNext{status: 302}},
		{"error", &recordingNext{err: caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: refused"))}},
		{"plain error", &recordingNext{err: errors.New("boom")}},
	} {
		n, logs := provisionNotify(t, wxpayNotify(t))
		m, _ := emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "")
		w := serveNotify(t, n, tc.next, m, nil)
		if w.Code != 500 || !strings.HasPrefix(w.Body.String(), v2Fail) || w.Header().Get("Content-Type") != "text/xml; charset=utf-8" {
			t.Errorf("%s: v2 got %d %q", tc.name, w.Code, w.Body.String())
		}
		if logs.FilterMessageSnippet("did not accept").Len() != 1 {
			t.Errorf("%s: logs %v", tc.name, logs.All())
		}

		m, _ = emulator.WxpayV3TransactionNotification(o, notifyTestSigner(t))
		w = serveNotify(t, n, tc.next, m, nil)
		var fail struct{ Code, Message string }
		if err := json.Unmarshal(w.Body.Bytes(), &fail); w.Code != 500 || err != nil || fail.Code != "FAIL" || fail.Message == "" {
			t.Errorf("%s: v3 got %d %q", tc.name, w.Code, w.Body.String())
		}
	}
	// A backend that writes nothing answered 200, as net/http would.
	n, _ := provisionNotify(t, wxpayNotify(t))
	m, _ := emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "")
	silent := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	if w := serveNotify(t, n, silent, m, nil); w.Code != 200 || w.Body.String() != v2Success {
		t.Errorf("silent backend: %d %q", w.Code, w.Body.String())
	}
}

func TestNotifyRefused(t *testing.T) {
	o := notifyTestOrder()
	key := notifyTestKey(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	must := func(m *emulator.NotifyMessage, err error) *emulator.NotifyMessage {
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tamper := func(m *emulator.NotifyMessage, old, new string) *emulator.NotifyMessage {
		if !bytes.Contains(m.Body, []byte(old)) {
			t.Fatalf("%q not in %s", old, m.Body)
		}
		return &emulator.NotifyMessage{Header: m.Header, Body: bytes.Replace(m.Body, []byte(old), []byte(new), 1)}
	}
	wrongMch := o
	wrongMch.MchID = "1111111111"
	signer := notifyTestSigner(t)
	wrongSerial := signer
	wrongSerial.Serial = "UNKNOWN"
	wrongV3Key := signer
	wrongV3Key.APIv3Key = "0123456789abcdef0123456789abcdef"
	otherSigner := signer
	otherSigner.PlatformKey = other
	stale := must(emulator.WxpayV3TransactionNotification(o, signer))
	stale.Header = stale.Header.Clone()
	ts, _ := strconv.ParseInt(stale.Header.Get("Wechatpay-Timestamp"), 10, 64)
	staleTS := strconv.FormatInt(ts-600, 10)
	sig, _ := signing.RSASHA256Sign(key, signing.WxpayV3VerifyMessage(staleTS, stale.Header.Get("Wechatpay-Nonce"), stale.Body))
	stale.Header.Set("Wechatpay-Timestamp", staleTS)
	stale.Header.Set("Wechatpay-Signature", sig)
	big := must(emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, ""))
	big = &emulator.NotifyMessage{Header: big.Header, Body: append(bytes.Repeat([]byte(" "), notify.DefaultMaxBody), big.Body...)}

	v2 := func(m *emulator.NotifyMessage) *emulator.NotifyMessage { return m }
	for _, tc := range []struct {
		name     string
		provider string
		m        *emulator.NotifyMessage
		status   int
		check    string
		form     string // prefix of the answer
	}{
		{"v2 tampered", "wxpay", tamper(must(emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "")), "<total_fee><![CDATA[100]]>", "<total_fee><![CDATA[1]]>"), 401, "signature", v2Fail},
		{"v2 wrong key", "wxpay", must(emulator.WxpayV2PaymentNotification(o, "another key", "")), 401, "signature", v2Fail},
		{"v2 wrong merchant", "wxpay", must(emulator.WxpayV2PaymentNotification(wrongMch, notifyTestV2Key, "")), 401, "merchant", v2Fail},
		{"v2 refund wrong key", "wxpay", must(emulator.WxpayV2RefundNotification(o, "another key")), 401, "decrypt", v2Fail},
		{"v2 doctype", "wxpay", v2(&emulator.NotifyMessage{Header: http.Header{}, Body: []byte(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`)}), 400, "malformed", v2Fail},
		{"v2 garbage", "wxpay", &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("garbage")}, 400, "malformed", v2Fail},
		{"v2 over max_body", "wxpay", big, 413, "body_too_large", v2Fail},
		{"v3 stale", "wxpay", stale, 401, "freshness", `{"code":"FAIL"`},
		{"v3 unknown serial", "wxpay", must(emulator.WxpayV3TransactionNotification(o, wrongSerial)), 401, "serial", `{"code":"FAIL"`},
		{"v3 wrong APIv3 key", "wxpay", must(emulator.WxpayV3TransactionNotification(o, wrongV3Key)), 401, "decrypt", `{"code":"FAIL"`},
		{"v3 other platform key", "wxpay", must(emulator.WxpayV3RefundNotification(o, otherSigner)), 401, "signature", `{"code":"FAIL"`},
		{"v3 wrong merchant", "wxpay", must(emulator.WxpayV3RefundNotification(wrongMch, signer)), 401, "merchant", `{"code":"FAIL"`},
		{"v3 tampered", "wxpay", tamper(must(emulator.WxpayV3TransactionNotification(o, signer)), `"event_type"`, ` "event_type"`), 401, "signature", `{"code":"FAIL"`},
		{"v3 garbage json", "wxpay", &emulator.NotifyMessage{Header: http.Header{}, Body: []byte("{}")}, 401, "signature", `{"code":"FAIL"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, logs := provisionNotify(t, wxpayNotify(t))
			next := &recordingNext{}
			w := serveNotify(t, n, next, tc.m, nil)
			if next.calls != 0 {
				t.Fatal("a refused notification reached the backend")
			}
			if w.Code != tc.status || !strings.HasPrefix(w.Body.String(), tc.form) {
				t.Fatalf("got %d %q, want %d %s…", w.Code, w.Body.String(), tc.status, tc.form)
			}
			entries := logs.All()
			if len(entries) != 1 || entries[0].ContextMap()["check"] != tc.check {
				t.Fatalf("logs: %v", entries)
			}
			line, _ := json.Marshal(entries[0].ContextMap())
			for _, secret := range []string{notifyTestV2Key, notifyTestV3Key, notifyTestSecret, "another key", "passwd"} {
				if bytes.Contains(line, []byte(secret)) {
					t.Errorf("log line holds %q: %s", secret, line)
				}
			}
		})
	}
}

func TestNotifyProvisionPlaceholders(t *testing.T) {
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pemFile, []byte(notifyTestPubPEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_TEST_V2KEY", notifyTestV2Key)
	t.Setenv("NOTIFY_TEST_V3KEY", notifyTestV3Key)
	t.Setenv("NOTIFY_TEST_SERIAL", notifyTestSerial)
	n, _ := provisionNotify(t, &Wxpay{Key: "{env.NOTIFY_TEST_V2KEY}", APIv3Key: "{env.NOTIFY_TEST_V3KEY}",
		PlatformKeys: []PlatformKey{{Serial: "{env.NOTIFY_TEST_SERIAL}", Key: "{file." + pemFile + "}"}}})
	if n.Key != notifyTestV2Key || n.verifier.Key != notifyTestV2Key || n.verifier.APIv3Key != notifyTestV3Key {
		t.Fatal("placeholders not replaced")
	}
	if n.MaxBody != notify.DefaultMaxBody || time.Duration(n.MaxSkew) != DefaultMaxSkew || n.verifier.MaxSkew != DefaultMaxSkew || time.Duration(n.Timeout) != DefaultTimeout {
		t.Fatal("defaults")
	}
	m, _ := emulator.WxpayV3TransactionNotification(notifyTestOrder(), notifyTestSigner(t))
	if w := serveNotify(t, n, &recordingNext{}, m, nil); w.Code != 204 {
		t.Fatalf("v3 with keys from placeholders: %d %s", w.Code, w.Body.String())
	}
}

func TestNotifyValidate(t *testing.T) {
	pub := notifyTestPubPEM(t)
	for name, tc := range map[string]struct {
		n   Wxpay
		err string
	}{
		"wxpay no key":       {Wxpay{}, "key (APIv2) or api_v3_key"},
		"wxpay unset env":    {Wxpay{Key: "{env.NOTIFY_TEST_UNSET_VARIABLE}"}, "key: {env.NOTIFY_TEST_UNSET_VARIABLE} resolved to an empty value"},
		"wxpay v2 key size":  {Wxpay{Key: "0123456789abcdef0123456789abcdefX"}, "key must be 32 characters"},
		"v3 key size":        {Wxpay{APIv3Key: "short", PlatformKeys: []PlatformKey{{Serial: "S", Key: pub}}}, "want 32"},
		"v3 no platform key": {Wxpay{APIv3Key: notifyTestV3Key}, "platform_key"},
		"platform key alone": {Wxpay{Key: "k", PlatformKeys: []PlatformKey{{Serial: "S", Key: pub}}}, "needs api_v3_key"},
		"endpoint scheme":    {Wxpay{Key: notifyTestV2Key, Endpoint: "ftp://api.mch.weixin.qq.com"}, "endpoint \"ftp://api.mch.weixin.qq.com\": want an http:// or https:// URL"},
		"endpoint relative":  {Wxpay{Key: notifyTestV2Key, Endpoint: "api.mch.weixin.qq.com"}, "want an http:// or https:// URL"},
		"endpoint query":     {Wxpay{Key: notifyTestV2Key, Endpoint: "https://h/?a=1"}, "want an http:// or https:// URL"},
		"negative timeout":   {Wxpay{Key: notifyTestV2Key, Timeout: -1}, "timeout must be positive"},
	} {
		n := tc.n
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := n.Provision(ctx)
		if err == nil {
			err = n.Validate()
		}
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", name, err, tc.err)
		}
	}
	// Unparsable keys fail Provision without echoing them.
	for name, n := range map[string]Wxpay{
		"platform key": {APIv3Key: notifyTestV3Key, PlatformKeys: []PlatformKey{{Serial: "S", Key: "not-a-key-SECRETISH"}}},
		"empty serial": {APIv3Key: notifyTestV3Key, PlatformKeys: []PlatformKey{{Key: pub}}},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := n.Provision(ctx)
		cancel()
		if err == nil || strings.Contains(err.Error(), "SECRETISH") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func BenchmarkNotifyHandler(b *testing.B) {
	o := notifyTestOrder()
	for _, bc := range []struct {
		name  string
		n     func(testing.TB) *Wxpay
		build func() (*emulator.NotifyMessage, error)
	}{
		{"v2-md5", wxpayNotify, func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "MD5")
		}},
		{"v2-refund", wxpayNotify, func() (*emulator.NotifyMessage, error) {
			// Made by the emulator: each one costs a refund query to it.
			return notifyTestWxpay().refund(b, "ORDER-B1", "REFUND-B1", 100, 40).m, nil
		}},
		{"v3-transaction", wxpayNotify, func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV3TransactionNotification(o, notifyTestSigner(b))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n, _ := provisionNotify(b, bc.n(b))
			n.UseEnv(zap.NewNop(), n.Wxpay)
			m, err := bc.build()
			if err != nil {
				b.Fatal(err)
			}
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
				return nil
			})
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(m.Body))
				for k, v := range m.Header {
					r.Header[k] = v
				}
				w := httptest.NewRecorder()
				_ = n.ServeHTTP(w, r, next)
				if w.Code != 200 && w.Code != 204 {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
			}
		})
	}
}
