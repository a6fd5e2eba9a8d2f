package wxpay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// roundTripFunc answers requests in memory: no network in fuzzing.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// memStorage is a PlatformStorage in memory.
type memStorage struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memStorage) Lock(context.Context, string) error   { return nil }
func (m *memStorage) Unlock(context.Context, string) error { return nil }
func (m *memStorage) Store(_ context.Context, k string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[k] = bytes.Clone(v)
	return nil
}

func (m *memStorage) Load(_ context.Context, k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.data[k]; ok {
		return v, nil
	}
	return nil, fs.ErrNotExist
}

func fuzzStore(tb testing.TB, rt roundTripFunc) *wxpay.PlatformStore {
	s := wxpay.NewPlatformStore("https://api.mch.weixin.qq.com", ptMchID)
	if _, err := s.Register(wxpay.PlatformRegistration{Auto: &wxpay.PlatformAuto{
		SerialNo: ptMerchantSerial, PrivateKey: ptKey(tb, keyMerchant), APIv3Key: ptAPIv3Key,
		HTTP: &http.Client{Transport: rt},
	}}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// FuzzPlatformDownloadAnswer: whatever /v3/certificates answers, the store
// does not panic, and keeps nothing unless every check passed (a fuzzer
// cannot sign, so nothing is kept).
func FuzzPlatformDownloadAnswer(f *testing.F) {
	f.Add([]byte(`{"data":[{"serial_no":"5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC","effective_time":"2023-09-19T23:15:58+08:00","expire_time":"2028-09-17T23:15:58+08:00","encrypt_certificate":{"algorithm":"AEAD_AES_256_GCM","nonce":"14b16c03dc1b","associated_data":"certificate","ciphertext":"AAAA"}}]}`))
	f.Add([]byte(`{"data":[]}`))
	f.Add([]byte(`{"data":[{"encrypt_certificate":null}]}`))
	f.Add([]byte(`{"code":"SIGN_ERROR","message":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := fuzzStore(t, func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Wechatpay-Serial", "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC")
			h.Set("Wechatpay-Timestamp", "1700000000")
			h.Set("Wechatpay-Nonce", "n")
			h.Set("Wechatpay-Signature", "c2ln")
			return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})
		if err := s.RefreshPlatformKeys(context.Background()); err == nil {
			t.Fatal("an unsigned answer was accepted")
		}
		if len(s.Keys()) != 0 {
			t.Fatal("keys kept from a refused answer")
		}
	})
}

// FuzzPlatformStoredFile: whatever the shared storage holds, the store does
// not panic, and keeps only certificates that parse with their serial.
func FuzzPlatformStoredFile(f *testing.F) {
	now := time.Now().UTC().Format(time.RFC3339)
	f.Add([]byte(`{"fetched_at":"` + now + `","certificates":[{"serial_no":"01","certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}]}`))
	f.Add([]byte(`{"fetched_at":"` + now + `","certificates":[]}`))
	f.Add([]byte(`{"fetched_at":"x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzStore(t, func(*http.Request) (*http.Response, error) { return nil, errors.New("offline") })
		s.SetStorage(&memStorage{data: map[string][]byte{s.StorageKey(): data}})
		_ = s.RefreshPlatformKeys(context.Background())
		for _, k := range s.Keys() {
			if k.Certificate == nil || k.PublicKey == nil {
				t.Fatal("kept a key without its certificate")
			}
		}
	})
}
