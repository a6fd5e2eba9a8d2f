package wxpay

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// FuzzNotifyServeHTTP drives the whole handler with arbitrary bodies and
// signature headers, seeded with real signed notifications: no panic, only
// the documented statuses, and the backend is called only for a
// notification that passed (then the provider gets a success form).
func FuzzNotifyServeHTTP(f *testing.F) {
	o := notifyTestOrder()
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
		case 400, 401, 413, 500: // 500: a v2 refund the refund query could not confirm
			if next.calls != 0 {
				t.Fatalf("refused (%d) after calling the backend", w.Code)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
