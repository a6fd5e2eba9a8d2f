package wxpay_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

const merchantsTestSerial = "PUB_KEY_ID_0119000001092024110100000000"

func merchantsTestKey(tb testing.TB, i int) wxpay.PlatformKey {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(&ptKey(tb, i).PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := wxpay.ParsePlatformKey(merchantsTestSerial, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Every holder of a merchant at an endpoint gets one store, set up once;
// it is forgotten when the last one gives it back, not before.
func TestMerchantsAcquireShared(t *testing.T) {
	var m wxpay.Merchants
	setups := 0
	setup := func(*wxpay.PlatformStore) { setups++ }
	s1, release1 := m.Acquire("https://api.example.com/", "100", setup)
	s2, release2 := m.Acquire(" https://api.example.com", "100", setup)
	s3, release3 := m.Acquire("", "100", setup) // DefaultEndpoint: another store
	if s1 != s2 || s1 == s3 || setups != 2 {
		t.Fatalf("stores %p %p %p, %d setups", s1, s2, s3, setups)
	}
	if got, ok := m.Lookup("https://api.example.com", "100"); !ok || got != s1 {
		t.Fatal("Lookup")
	}
	if got := m.Stores("100"); len(got) != 2 || got[0] != s1 || got[1] != s3 {
		t.Fatalf("Stores %v (want the endpoints in order)", got)
	}
	release1()
	release1() // twice is once
	if _, ok := m.Lookup("https://api.example.com", "100"); !ok {
		t.Fatal("forgotten while held")
	}
	release2()
	if _, ok := m.Lookup("https://api.example.com", "100"); ok || len(m.Stores("100")) != 1 {
		t.Fatal("kept after the last release")
	}
	release3()
	if len(m.Stores("100")) != 0 {
		t.Fatal("Stores after every release")
	}
	// Made again after it was forgotten.
	s4, release4 := m.Acquire("https://api.example.com", "100", setup)
	defer release4()
	if s4 == s1 || setups != 3 {
		t.Fatal("a forgotten store came back")
	}
}

// A notification verifier's keys: its own first, then the merchant's
// stores at the time of the lookup; without either, noKeys says so once.
func TestMerchantsNotifyKeys(t *testing.T) {
	var m wxpay.Merchants
	calls := 0
	keys := m.NotifyKeys(nil, "200", func() { calls++ })
	if _, ok := keys.PlatformKey(merchantsTestSerial, time.Now()); ok {
		t.Fatal("a key without any store")
	}
	r := keys.(wxpay.PlatformKeyRefresher)
	for range 3 {
		if err := r.RefreshPlatformKeys(context.Background()); !errors.Is(err, wxpay.ErrPlatformNoAuto) {
			t.Fatalf("refresh: %v", err)
		}
	}
	if calls != 1 {
		t.Fatalf("noKeys called %d times, want 1", calls)
	}

	st, release := m.Acquire("", "200", nil)
	defer release()
	k := merchantsTestKey(t, 0)
	if _, err := st.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{k}}); err != nil {
		t.Fatal(err)
	}
	if pub, ok := keys.PlatformKey(merchantsTestSerial, time.Now()); !ok || !pub.Equal(k.PublicKey) {
		t.Fatal("the store made after the key source is not looked up")
	}
	own := merchantsTestKey(t, 1)
	static := wxpay.PlatformKeySet{}
	static.Add(own)
	if pub, ok := m.NotifyKeys(static, "200", nil).PlatformKey(merchantsTestSerial, time.Now()); !ok || !pub.Equal(own.PublicKey) {
		t.Fatal("its own key is not looked up first")
	}
}

func BenchmarkNotifyPlatformKeysHit(b *testing.B) {
	var m wxpay.Merchants
	st, release := m.Acquire("", "1900000299", nil)
	defer release()
	if _, err := st.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{merchantsTestKey(b, 0)}}); err != nil {
		b.Fatal(err)
	}
	keys := m.NotifyKeys(nil, "1900000299", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := keys.PlatformKey(merchantsTestSerial, time.Now()); !ok {
				b.Fatal("miss")
			}
		}
	})
}
