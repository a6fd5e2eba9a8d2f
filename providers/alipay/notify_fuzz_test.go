package alipay_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// FuzzParseNotifyForm: whatever the form parser accepts, net/url reads
// the same fields (one value each, no ';' separator, no empty key); and a
// parsed form that Alipay's signature verifies is one of the two published
// notifications: the same signed string, the same signature bytes.
func FuzzParseNotifyForm(f *testing.F) {
	trade, sm := ntVectors(f)
	type signedForm struct {
		pub     *rsa.PublicKey
		content string
		sig     []byte
	}
	var signed []signedForm
	for i, v := range []ntAlipayVector{trade, sm} {
		sig, err := base64.StdEncoding.DecodeString(v.Params["sign"])
		if err != nil {
			f.Fatal(err)
		}
		// The trade notification is signed without sign_type, the
		// service-market one with it.
		signed = append(signed, signedForm{ntPublicKey(f, v.PublicKeyFile), signing.AlipaySignContent(v.Params, i == 1), sig})
		f.Add(ntForm(v.Params))
	}
	f.Add([]byte("a=1+2&b=%2B&c"))
	f.Add([]byte("a=%zz;b"))
	f.Add([]byte("a=1&a=2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := alipay.ParseNotifyForm(data)
		if err != nil {
			if m != nil {
				t.Fatal("fields and an error")
			}
			return
		}
		if len(m) == 0 {
			t.Fatal("accepted an empty form")
		}
		q, err := url.ParseQuery(string(data))
		if err != nil {
			t.Fatalf("net/url refuses an accepted form: %v\n%q", err, data)
		}
		if len(q) != len(m) {
			t.Fatalf("%d fields, net/url reads %d: %q", len(m), len(q), data)
		}
		for k, v := range m {
			if k == "" {
				t.Fatal("empty key")
			}
			if got := q[k]; len(got) != 1 || got[0] != v {
				t.Fatalf("%q = %q, net/url reads %q", k, v, got)
			}
		}
		for _, s := range signed {
			if signing.AlipayVerifyParams(s.pub, m) != nil {
				continue
			}
			sig, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(m["sign"], " ", "+"))
			if !bytes.Equal(sig, s.sig) {
				t.Fatalf("a signature other than Alipay's verifies: %q", data)
			}
			if signing.AlipaySignContent(m, false) != s.content && signing.AlipaySignContent(m, true) != s.content {
				t.Fatalf("a signed string other than Alipay's verifies: %q", data)
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
