package wxpay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// FuzzNotifyServeHTTP drives the whole handler with arbitrary bodies and
// signature headers, seeded with real signed notifications: no panic, only
// the documented statuses, the backend is called only for a notification
// that passed (then the provider gets a success form), and what it is
// given is what one of the signed seeds gives it (but for the random
// nonce and event id each signing makes): no change the fuzzer makes to a
// notification reaches the backend.
func FuzzNotifyServeHTTP(f *testing.F) {
	o := notifyTestOrder()
	// What the backend gets for each seed, from a handler of its own (a
	// notification is accepted once per handler).
	want := map[string]bool{}
	expect, _ := provisionNotify(f, wxpayNotify(f))
	for _, build := range []func() (*emulator.NotifyMessage, error){
		func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV2PaymentNotification(o, notifyTestV2Key, "")
		},
		func() (*emulator.NotifyMessage, error) {
			return notifyTestWxpay().refund(f, "ORDER-F1", "REFUND-F1", 100, 40).m, nil
		},
		func() (*emulator.NotifyMessage, error) {
			return emulator.WxpayV3TransactionNotification(o, notifyTestSigner(f))
		},
	} {
		m, err := build()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Body, m.Header.Get("Wechatpay-Signature"), m.Header.Get("Wechatpay-Timestamp"), m.Header.Get("Wechatpay-Nonce"), m.Header.Get("Wechatpay-Serial"))
		next := &recordingNext{}
		if w := serveNotify(f, expect, next, m, nil); next.calls != 1 {
			f.Fatalf("seed refused: %d %s", w.Code, w.Body)
		}
		want[signedContent(f, next.body)] = true
	}
	f.Add([]byte("<xml/>"), "", "", "", "")
	n, _ := provisionNotify(f, wxpayNotify(f))
	f.Fuzz(func(t *testing.T, body []byte, sig, ts, nonce, serial string) {
		r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
		for k, v := range map[string]string{"Wechatpay-Signature": sig, "Wechatpay-Timestamp": ts, "Wechatpay-Serial": serial,
			"Wechatpay-Nonce": nonce} {
			if v != "" {
				r.Header[k] = []string{v}
			}
		}
		w := httptest.NewRecorder()
		next := &recordingNext{}
		if err := n.ServeHTTP(w, r, next); err != nil {
			t.Fatal(err)
		}
		switch w.Code {
		case 200, 204:
			if next.calls != 1 {
				t.Fatalf("success form without the backend: %d", w.Code)
			}
			if !want[signedContent(t, next.body)] {
				t.Fatalf("the backend got what no signed seed gives: %s", next.body)
			}
		case 400, 401, 413, 500: // 500: a v2 refund the refund query could not confirm
			if next.calls != 0 {
				t.Fatalf("refused (%d) after calling the backend", w.Code)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

// signedContent is what the backend got, without what differs between two
// signings of the same notification (raw.nonceStr, raw.notification: the
// v3 event's id and time).
func signedContent(t testing.TB, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("the backend got no JSON: %s", body)
	}
	if raw, ok := m["raw"].(map[string]any); ok {
		delete(raw, "nonceStr")
		delete(raw, "notification")
	}
	out, _ := json.Marshal(m)
	return string(out)
}
