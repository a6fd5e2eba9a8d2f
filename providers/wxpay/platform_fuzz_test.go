package wxpay_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
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

// fuzzClock is the clock of FuzzPlatformStoredFile: inside the validity of
// the published certificate and of the generated ones.
var fuzzClock = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// FuzzPlatformStoredFile: whatever the shared storage holds, the store does
// not panic; with platform_root set it keeps only certificates that were
// stored signed by that root (byte-equal to the seeds' certificates), and
// without it only certificates whose serial is their serial_no, with their
// own key, not expired.
func FuzzPlatformStoredFile(f *testing.F) {
	ca := newTestCAAt(f, keyCA, "Test Root CA", fuzzClock)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	a := newPlatformCert(f, ca, keyPlatformA, serialA, fuzzClock.Add(-time.Hour), fuzzClock.Add(365*24*time.Hour))
	b := newPlatformCert(f, ca, keyPlatformB, serialB, fuzzClock.Add(-time.Hour), fuzzClock.Add(24*time.Hour))
	signedRaw := [][]byte{a.cert.Raw, b.cert.Raw}
	vecPEM, vecSerial := fuzzVectorCertificate(f)
	fetched := fuzzClock.Add(-time.Hour).Format(time.RFC3339)
	file := func(certs ...[2]string) []byte {
		type c struct {
			SerialNo    string `json:"serial_no"`
			Certificate string `json:"certificate"`
		}
		var list []c
		for _, x := range certs {
			list = append(list, c{x[0], x[1]})
		}
		raw, _ := json.Marshal(map[string]any{"fetched_at": fetched, "certificates": list})
		return raw
	}
	f.Add(file([2]string{a.serial, a.pem}, [2]string{b.serial, b.pem}))
	f.Add(file([2]string{a.serial, a.pem}, [2]string{vecSerial, vecPEM}))
	f.Add(file([2]string{vecSerial, vecPEM}))
	f.Add(file([2]string{b.serial, a.pem}))
	f.Add([]byte(`{"fetched_at":"` + fetched + `","certificates":[{"serial_no":"01","certificate":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}]}`))
	f.Add([]byte(`{"fetched_at":"` + fetched + `","certificates":[]}`))
	f.Add([]byte(`{"fetched_at":"x"}`))
	f.Add([]byte(`null`))
	offline := func(*http.Request) (*http.Response, error) { return nil, errors.New("offline") }
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, root := range []*x509.CertPool{roots, nil} {
			s := fuzzStoreRoot(t, offline, root)
			s.SetClock(func() time.Time { return fuzzClock })
			s.SetStorage(&memStorage{data: map[string][]byte{s.StorageKey(): data}})
			_ = s.RefreshPlatformKeys(context.Background())
			for _, k := range s.Keys() {
				c := k.Certificate
				if c == nil || k.PublicKey == nil {
					t.Fatal("kept a key without its certificate")
				}
				if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(k.PublicKey) {
					t.Fatal("kept a key that is not its certificate's")
				}
				if !strings.EqualFold(signing.CertificateSerialNo(c), k.Serial) {
					t.Fatalf("kept serial %s for a certificate of serial %s", k.Serial, signing.CertificateSerialNo(c))
				}
				if !fuzzClock.Before(k.NotAfter) {
					t.Fatalf("kept %s, expired on %v", k.Serial, k.NotAfter)
				}
				if root == nil {
					continue
				}
				signed := false
				for _, raw := range signedRaw {
					signed = signed || bytes.Equal(c.Raw, raw)
				}
				if !signed {
					t.Fatalf("with platform_root, kept a certificate the root never signed: %s", k.Serial)
				}
			}
		}
	})
}

// fuzzStoreRoot is fuzzStore with platform_root root.
func fuzzStoreRoot(tb testing.TB, rt roundTripFunc, root *x509.CertPool) *wxpay.PlatformStore {
	s := wxpay.NewPlatformStore("https://api.mch.weixin.qq.com", ptMchID)
	if _, err := s.Register(wxpay.PlatformRegistration{Auto: &wxpay.PlatformAuto{
		SerialNo: ptMerchantSerial, PrivateKey: ptKey(tb, keyMerchant), APIv3Key: ptAPIv3Key,
		Root: root, HTTP: &http.Client{Transport: rt},
	}}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// fuzzVectorCertificate is the published platform certificate (decrypted
// from the vectors) and its serial.
func fuzzVectorCertificate(tb testing.TB) (pemText, serial string) {
	tb.Helper()
	dir := platformVectorsDir(tb)
	ct, err := os.ReadFile(filepath.Join(dir, "v3_certificate_ciphertext.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := signing.DecryptAEADAES256GCM("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb", "certificate", "14b16c03dc1b", strings.TrimSpace(string(ct)))
	if err != nil {
		tb.Fatal(err)
	}
	c, err := signing.ParseCertificate(string(plain))
	if err != nil {
		tb.Fatal(err)
	}
	return string(plain), signing.CertificateSerialNo(c)
}
