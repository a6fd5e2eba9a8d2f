package alipay_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func FuzzParseNotifyForm(f *testing.F) {
	trade, _ := ntVectors(f)
	f.Add(ntForm(trade.Params))
	f.Add([]byte("a=1+2&b=%2B&c"))
	f.Add([]byte("a=%zz;b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := alipay.ParseNotifyForm(data)
		if err != nil {
			return
		}
		if len(m) == 0 {
			t.Fatal("accepted an empty ntForm")
		}
		for k := range m {
			if k == "" {
				t.Fatal("empty key")
			}
		}
	})
}

// FuzzNotifyVerify: whatever is done to a real Alipay-ntSigned notification,
// the verifier does not panic and accepts only the ntSigned content (Alipay
// leaves empty values out of the ntSigned string, so those are ignored).
func FuzzNotifyVerify(f *testing.F) {
	trade, _ := ntVectors(f)
	v := &alipay.NotifyVerifier{PublicKey: ntPublicKey(f, trade.PublicKeyFile)}
	n, err := v.Verify(ntForm(trade.Params))
	if err != nil {
		f.Fatal(err)
	}
	want := ntSignedContent(n)
	f.Add(ntForm(trade.Params))
	f.Add([]byte("sign=abc&sign_type=RSA2&total_amount=0.10"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := v.Verify(body)
		if err != nil {
			if n != nil {
				t.Fatal("notification and error")
			}
			return
		}
		if got := ntSignedContent(n); !bytes.Equal(got, want) {
			t.Fatalf("accepted content that was never ntSigned: %s", got)
		}
	})
}

func ntSignedContent(n *alipay.Notification) []byte {
	var raw map[string]any
	switch e := n.Event.(type) {
	case *alipay.NotifyPayment:
		raw = e.Raw
	case *alipay.NotifyRefund:
		raw = e.Raw
	}
	for k, v := range raw {
		if v == "" || k == "signType" {
			delete(raw, k) // unsigned: empty values, and sign_type for trade notifications
		}
	}
	b, _ := json.Marshal(n.Event)
	return b
}

func BenchmarkNotifyAlipayRSA2(b *testing.B) {
	trade, _ := ntVectors(b)
	v := &alipay.NotifyVerifier{AppID: "2019073166072302", PublicKey: ntPublicKey(b, trade.PublicKeyFile)}
	body := ntForm(trade.Params)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkYuanToFen(b *testing.B) {
	for b.Loop() {
		if _, err := alipay.YuanToFen("1234.56"); err != nil {
			b.Fatal(err)
		}
	}
}
