package wxpay_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const (
	serialA = "6B3B1E4A70D1A3A8C9E5D2F0A1B2C3D4E5F60718"
	serialB = "7C4C2F5B81E2B4B9DAF6E3A1B2C3D4E5F6071829"
	serialC = "0D5D30C6C92F3C5CAB07F4B2C3D4E5F607182930"
)

var (
	yesterday = time.Now().Add(-24 * time.Hour)
	nextYear  = time.Now().Add(365 * 24 * time.Hour)
)

func mustRefresh(t *testing.T, s *wxpay.PlatformStore) {
	t.Helper()
	if err := s.RefreshPlatformKeys(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
}

func wantKey(t *testing.T, s *wxpay.PlatformStore, serial string, want *rsa.PublicKey) {
	t.Helper()
	got, ok := s.PlatformKey(serial, s.Now())
	if !ok {
		t.Fatalf("serial %s unknown", serial)
	}
	if want != nil && !got.Equal(want) {
		t.Fatalf("serial %s: wrong key", serial)
	}
}

func wantNoKey(t *testing.T, s *wxpay.PlatformStore, serial string) {
	t.Helper()
	if _, ok := s.PlatformKey(serial, s.Now()); ok {
		t.Fatalf("serial %s known, want unknown", serial)
	}
}

// vectorValidity is the validity of the published platform certificate
// (serial 5DEA10EF…): the tests pin their clocks inside or past it, so
// they do not depend on today's date.
var (
	vectorNotBefore = time.Date(2023, 9, 19, 15, 15, 58, 0, time.UTC)
	vectorNotAfter  = time.Date(2028, 9, 17, 15, 15, 58, 0, time.UTC)
)

// vectorCertificateEntry is the published certificate ciphertext
// (wechatpay-java's test) as an entry of the fake's download, with its
// APIv3 key and the serial its plaintext names.
func vectorCertificateEntry(t *testing.T) (entry fakeEntry, apiV3Key, serial string) {
	t.Helper()
	dir := platformVectorsDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		AEAD struct {
			Cases []struct {
				APIv3Key       string `json:"api_v3_key"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
				CiphertextFile string `json:"ciphertext_file"`
				Plaintext      string `json:"plaintext"`
			} `json:"cases"`
		} `json:"wxpay_v3_aead_aes_256_gcm"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, c := range v.AEAD.Cases {
		if c.CiphertextFile == "" {
			continue
		}
		ct, err := os.ReadFile(filepath.Join(dir, c.CiphertextFile))
		if err != nil {
			t.Fatal(err)
		}
		serial = c.Plaintext[strings.LastIndexByte(c.Plaintext, ' ')+1:]
		apiV3Key = c.APIv3Key
		entry = fakeEntry{serial: serial, ciphertext: strings.TrimSpace(string(ct)), nonce: c.Nonce, associatedData: c.AssociatedData}
	}
	if !strings.HasPrefix(serial, "5DEA10EF") {
		t.Fatalf("vector serial %q", serial)
	}
	return entry, apiV3Key, serial
}

// vectorStore is a store whose clock (and the fake's) is clock, in front
// of a fake whose download lists the published certificate and a
// generated one that signs the answer (the vector certificate's private
// key is not published). The generated certificate is valid around the
// clock's start.
func vectorStore(t *testing.T, clock *testClock, entry fakeEntry, apiV3Key string) (*wxpay.PlatformStore, *platformCert) {
	t.Helper()
	ca := newTestCA(t, keyCA, "Test Root CA")
	at := clock.Now()
	signer := newPlatformCert(t, ca, keyPlatformA, serialA, at.Add(-24*time.Hour), at.Add(365*24*time.Hour))
	f := newCertFake(t, signer, entry, entryOf(signer))
	f.apiV3Key = apiV3Key
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	s := wxpay.NewPlatformStore(f.srv.URL, ptMchID)
	s.SetClock(clock.Now)
	if _, err := s.Register(wxpay.PlatformRegistration{Auto: &wxpay.PlatformAuto{
		SerialNo: ptMerchantSerial, PrivateKey: ptKey(t, keyMerchant), APIv3Key: apiV3Key, HTTP: f.srv.Client(),
	}}); err != nil {
		t.Fatal(err)
	}
	return s, signer
}

// The published certificate ciphertext goes through the store's download
// path: decrypted with the APIv3 key, its serial 5DEA10EF… checked against
// the certificate, its dates checked against the store's clock (pinned
// inside the certificate's validity).
func TestPlatformStoreVectorCertificate(t *testing.T) {
	entry, apiV3Key, wantSerial := vectorCertificateEntry(t)
	clock := newTestClock(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	s, signer := vectorStore(t, clock, entry, apiV3Key)
	mustRefresh(t, s)
	wantKey(t, s, wantSerial, nil)
	wantKey(t, s, strings.ToLower(wantSerial), nil)
	wantKey(t, s, serialA, &signer.key.PublicKey)
	found := false
	for _, k := range s.Keys() {
		if k.Serial == wantSerial {
			found = true
			if k.Certificate == nil || signing.CertificateSerialNo(k.Certificate) != wantSerial {
				t.Fatal("vector certificate not parsed")
			}
			if !k.NotBefore.Equal(vectorNotBefore) || !k.NotAfter.Equal(vectorNotAfter) {
				t.Fatalf("vector certificate valid %v to %v, want %v to %v", k.NotBefore, k.NotAfter, vectorNotBefore, vectorNotAfter)
			}
		}
	}
	if !found {
		t.Fatal("vector certificate not among the store's keys")
	}

	// Its last second is still usable; at NotAfter it is refused, though
	// it was downloaded while valid.
	clock.Add(vectorNotAfter.Sub(clock.Now()) - time.Second)
	wantKey(t, s, wantSerial, nil)
	clock.Add(time.Second)
	wantNoKey(t, s, wantSerial)

	// The same ciphertext with another APIv3 key refuses the whole download.
	clock2 := newTestClock(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	ca := newTestCA(t, keyCA, "Test Root CA")
	signer2 := newPlatformCert(t, ca, keyPlatformA, serialA, clock2.Now().Add(-time.Hour), clock2.Now().Add(time.Hour))
	f2 := newCertFake(t, signer2, entry, entryOf(signer2))
	f2.apiV3Key = apiV3Key
	f2.set(func(f *wxpayFake) { f.now = clock2.Now })
	s2 := autoStore(t, f2, nil) // ptAPIv3Key: not the vector's key
	s2.SetClock(clock2.Now)
	err := s2.RefreshPlatformKeys(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("wrong APIv3 key: %v", err)
	}
	if strings.Contains(err.Error(), apiV3Key) || strings.Contains(err.Error(), ptAPIv3Key) {
		t.Fatal("an error shows the APIv3 key")
	}
	wantNoKey(t, s2, wantSerial)
}

// Downloaded past its NotAfter, the published certificate is dropped (with
// the reason) and never served; the download's other certificate is kept.
func TestPlatformStoreVectorCertificateExpired(t *testing.T) {
	entry, apiV3Key, wantSerial := vectorCertificateEntry(t)
	clock := newTestClock(vectorNotAfter.Add(time.Minute))
	s, signer := vectorStore(t, clock, entry, apiV3Key)
	var dropped []string
	s.Events.Dropped = func(serial, reason string) { dropped = append(dropped, serial+": "+reason) }
	mustRefresh(t, s)
	wantNoKey(t, s, wantSerial)
	wantKey(t, s, serialA, &signer.key.PublicKey)
	for _, k := range s.Keys() {
		if strings.EqualFold(k.Serial, wantSerial) {
			t.Fatal("the expired vector certificate is among the store's keys")
		}
	}
	if len(dropped) != 1 || !strings.Contains(dropped[0], "expired on 2028-09-17T15:15:58Z") {
		t.Fatalf("dropped: %q", dropped)
	}
}

func TestPlatformStoreNoNetworkAtConstruction(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	ctx, cancel := context.WithCancel(context.Background())
	ft := newFakeTimers(t, ctx, s)
	s.Start(ctx)
	// Started, the background refresh waits FirstDownload before anything.
	if d := ft.wait(); d != wxpay.DefaultPlatformFirstDownload {
		t.Fatalf("first background wait %v, want %v", d, wxpay.DefaultPlatformFirstDownload)
	}
	cancel()
	ft.stopped()
	wantNoKey(t, s, serialA)
	if n := f.downloads.Load(); n != 0 {
		t.Fatalf("%d downloads before first use", n)
	}
	// First use.
	mustRefresh(t, s)
	wantKey(t, s, serialA, &a.key.PublicKey)
	if n := f.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
}

func TestPlatformStoreRefusals(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	otherCA := newTestCA(t, keyOtherCA, "Other Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	expired := newPlatformCert(t, ca, keyPlatformB, serialB, time.Now().Add(-400*24*time.Hour), time.Now().Add(-time.Hour))
	foreign := newPlatformCert(t, otherCA, keyPlatformC, serialC, yesterday, nextYear)
	rootPool := x509.NewCertPool()
	rootPool.AddCert(ca.cert)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(otherCA.cert)

	cases := []struct {
		name    string
		signer  *platformCert
		entries []fakeEntry
		set     func(f *wxpayFake)
		root    *x509.CertPool
		apiKey  string
		want    string // error text; "" means accepted
	}{
		{name: "tampered answer", signer: a, entries: []fakeEntry{entryOf(a)},
			set: func(f *wxpayFake) {
				f.tamper = func(b []byte) []byte { return []byte(strings.Replace(string(b), `"data"`, `"data" `, 1)) }
			}, want: "does not verify"},
		{name: "signature by a key outside the download", signer: foreign, entries: []fakeEntry{entryOf(a)},
			want: "neither a usable certificate"},
		{name: "wrong APIv3 key", signer: a, entries: []fakeEntry{entryOf(a)}, apiKey: "ffffffffffffffffffffffffffffffff",
			want: "does not decrypt"},
		{name: "signer expired", signer: expired, entries: []fakeEntry{entryOf(expired)}, want: "neither a usable certificate"},
		{name: "only an expired one besides the signer", signer: a, entries: []fakeEntry{entryOf(a), entryOf(expired)}},
		{name: "stale answer", signer: a, entries: []fakeEntry{entryOf(a)},
			set: func(f *wxpayFake) { f.clockOffset = -10 * time.Minute }, want: "away from now"},
		{name: "chain to platform_root", signer: a, entries: []fakeEntry{entryOf(a)}, root: rootPool},
		{name: "chain not to platform_root", signer: a, entries: []fakeEntry{entryOf(a)}, root: otherPool,
			want: "neither a usable certificate"},
		{name: "serial_no not the certificate's", signer: a, entries: []fakeEntry{func() fakeEntry {
			e := entryOf(a)
			e.serial = serialB
			return e
		}()}, want: "neither a usable certificate"},
		{name: "expire_time earlier than NotAfter", signer: a, entries: []fakeEntry{func() fakeEntry {
			e := entryOf(a)
			e.expire = time.Now().Add(-time.Minute).Format(time.RFC3339)
			return e
		}()}, want: "neither a usable certificate"},
		{name: "provider error", signer: a, entries: []fakeEntry{entryOf(a)},
			set: func(f *wxpayFake) { f.merchantPub = &ptKey(t, keyOtherCA).PublicKey }, want: "HTTP 401 SIGN_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ft := &quietTB{TB: t}
			f := newCertFake(ft, tc.signer, tc.entries...)
			if tc.set != nil {
				f.set(tc.set)
			}
			if tc.apiKey != "" {
				f.apiV3Key = tc.apiKey
			}
			s := autoStore(t, f, tc.root)
			var dropped []string
			s.Events.Dropped = func(serial, reason string) { dropped = append(dropped, serial+": "+reason) }
			err := s.RefreshPlatformKeys(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v (dropped %v)", err, dropped)
				}
				wantKey(t, s, serialA, &a.key.PublicKey)
				wantNoKey(t, s, serialB)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q (dropped %v)", err, tc.want, dropped)
			}
			if len(s.Keys()) != 0 {
				t.Fatalf("keys kept after a refused download: %d", len(s.Keys()))
			}
			for _, secret := range []string{ptAPIv3Key, tc.apiKey} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Fatal("error shows a key")
				}
			}
		})
	}
}

// quietTB lets a fake refuse a request (a case that expects it) without
// failing the test.
type quietTB struct{ testing.TB }

func (q *quietTB) Errorf(string, ...any) {}

// Rotation: the fake switches to a new platform key; a notification (or
// answer) with the new serial makes exactly one download, and a burst of
// unknown serials makes no more than one per minute.
func TestPlatformStoreRotation(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	b := newPlatformCert(t, ca, keyPlatformB, serialB, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	v := &wxpay.NotifyVerifier{APIv3Key: ptAPIv3Key, MchID: ptMchID, PlatformKeys: s}

	h, body := signedNotification(t, a.key, a.serial, ptAPIv3Key, "T1")
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("first notification: %v", err)
	}
	if n := f.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}

	// WeChat Pay rotates: both certificates are listed, answers signed by B.
	clock.Add(2 * time.Minute)
	f.rotate(b, entryOf(a), entryOf(b))
	h, body = signedNotification(t, b.key, b.serial, ptAPIv3Key, "T2")
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("notification with the new serial: %v", err)
	}
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
	wantKey(t, s, serialA, &a.key.PublicKey) // still listed

	// A burst of made-up serials: one refresh per minute at most.
	clock.Add(2 * time.Minute)
	held, release := f.holding()
	var wg, arrived sync.WaitGroup
	var refused sync.Map
	for i := range 50 {
		wg.Add(1)
		arrived.Add(1)
		go func() {
			defer wg.Done()
			arrived.Done()
			h, body := signedNotification(t, b.key, "FFFF"+strconv.Itoa(i), ptAPIv3Key, "T3")
			_, err := v.Verify(context.Background(), h, body)
			var ne *wxpay.NotifyError
			if !errors.As(err, &ne) || ne.Check != wxpay.CheckSerial {
				t.Errorf("made-up serial: %v", err)
			}
			refused.Store(i, true)
		}()
	}
	// One download is under way, held until every notification is there.
	<-held
	arrived.Wait()
	release()
	wg.Wait()
	if n := f.downloads.Load(); n != 3 {
		t.Fatalf("%d downloads after the burst, want 3", n)
	}
	for range 10 {
		if err := s.RefreshPlatformKeys(context.Background()); !errors.Is(err, wxpay.ErrPlatformRateLimited) {
			t.Fatalf("refresh within a minute: %v", err)
		}
	}
	if n := f.downloads.Load(); n != 3 {
		t.Fatalf("%d downloads, want 3", n)
	}
	// A minute later a refresh may download again.
	clock.Add(61 * time.Second)
	mustRefresh(t, s)
	if n := f.downloads.Load(); n != 4 {
		t.Fatalf("%d downloads, want 4", n)
	}

	// WeChat Pay stops listing A; once a download drops it, it is unknown.
	clock.Add(2 * time.Minute)
	f.rotate(b, entryOf(b))
	mustRefresh(t, s)
	wantNoKey(t, s, serialA)
	wantKey(t, s, serialB, &b.key.PublicKey)
}

// Certificates are dropped when they expire, without a download.
func TestPlatformStoreExpiry(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	soon := time.Now().Add(time.Hour).Truncate(time.Second)
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, soon)
	later := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	b := newPlatformCert(t, ca, keyPlatformB, serialB, later, nextYear) // not yet effective
	f := newCertFake(t, a, entryOf(a), entryOf(b))
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	mustRefresh(t, s)
	wantKey(t, s, serialA, nil)
	wantNoKey(t, s, serialB) // from its effective_time on
	clock.Add(45 * time.Minute)
	wantKey(t, s, serialA, nil)
	wantKey(t, s, serialB, nil)
	clock.Add(30 * time.Minute)
	wantNoKey(t, s, serialA)
	wantKey(t, s, serialB, nil)
}

// Two stores on one storage folder (two instances): one download between
// them, even when they refresh at the same time.
func TestPlatformStoreSharedStorage(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	b := newPlatformCert(t, ca, keyPlatformB, serialB, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	held, release := f.holding()
	dir := t.TempDir()
	s1 := autoStore(t, f, nil)
	s2 := autoStore(t, f, nil)
	locks := make(chan string, 16)
	s1.SetStorage(&lockSpy{&certmagic.FileStorage{Path: dir}, locks})
	s2.SetStorage(&lockSpy{&certmagic.FileStorage{Path: dir}, locks})
	var shared atomic.Int32
	s1.Events.Shared = func() { shared.Add(1) }
	s2.Events.Shared = func() { shared.Add(1) }

	var wg sync.WaitGroup
	for _, s := range []*wxpay.PlatformStore{s1, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.RefreshPlatformKeys(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	// One store downloads under the lock, held until the other one asks
	// for the lock too.
	<-held
	<-locks
	<-locks
	release()
	wg.Wait()
	if n := f.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads for two stores, want 1", n)
	}
	wantKey(t, s1, serialA, &a.key.PublicKey)
	wantKey(t, s2, serialA, &a.key.PublicKey)

	// What the storage holds: PEMs and fetched_at, nothing secret.
	files, _ := filepath.Glob(filepath.Join(dir, "unicloud", "wxpay", "platform", "*.json"))
	if len(files) != 1 {
		t.Fatalf("storage files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	var stored struct {
		FetchedAt    time.Time `json:"fetched_at"`
		Certificates []struct {
			SerialNo    string `json:"serial_no"`
			Certificate string `json:"certificate"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(raw, &stored); err != nil || stored.FetchedAt.IsZero() || len(stored.Certificates) != 1 {
		t.Fatalf("stored %s: %v", raw, err)
	}
	if blk, _ := pem.Decode([]byte(stored.Certificates[0].Certificate)); blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatal("stored certificate is not PEM")
	}
	if strings.Contains(string(raw), ptAPIv3Key) || strings.Contains(string(raw), "PRIVATE") {
		t.Fatal("storage holds a secret")
	}

	// Rotation seen by one instance reaches the other through the storage.
	clock := newTestClock(time.Now().Add(2 * time.Minute))
	s1.SetClock(clock.Now)
	s2.SetClock(clock.Now)
	f.rotate(b, entryOf(a), entryOf(b))
	mustRefresh(t, s1) // s1 met serial B
	wantKey(t, s1, serialB, nil)
	wantNoKey(t, s2, serialB)
	mustRefresh(t, s2) // s2 meets it too: the storage is newer than its memory
	wantKey(t, s2, serialB, nil)
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
	if n := shared.Load(); n != 2 {
		t.Fatalf("certificates taken from the storage %d times, want 2", n)
	}

	// A third instance starting later reads the storage.
	s3 := autoStore(t, f, nil)
	s3.SetStorage(&certmagic.FileStorage{Path: dir})
	mustRefresh(t, s3)
	wantKey(t, s3, serialB, nil)
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
}

// Public-key mode (PUB_KEY_ID_…) and certificate mode side by side, as
// during WeChat Pay's migration: configured public key, configured
// certificate and downloaded certificates all verify notifications.
func TestPlatformStorePublicKeyAndCertificateModes(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	c := newPlatformCert(t, ca, keyPlatformC, serialC, yesterday, nextYear)
	pubKey := ptKey(t, keyPublicMode)
	pubDER, _ := x509.MarshalPKIXPublicKey(&pubKey.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	pk, err := wxpay.ParsePlatformKey(ptPubKeyID, pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := wxpay.ParsePlatformKey(strings.ToLower(serialC), c.pem)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wxpay.ParsePlatformKey(serialA, c.pem); err == nil {
		t.Fatal("a certificate under another serial was accepted")
	}
	if _, err := wxpay.ParsePlatformKey("", pubPEM); err == nil {
		t.Fatal("empty serial accepted")
	}

	// The download answer is signed with the public key (public-key mode
	// merchants), which is trusted because it is configured.
	f := newCertFake(t, nil, entryOf(a))
	f.platformSerial, f.platformKey = ptPubKeyID, pubKey
	s := autoStore(t, f, nil)
	if _, err := s.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{pk, ck}}); err != nil {
		t.Fatal(err)
	}
	v := &wxpay.NotifyVerifier{APIv3Key: ptAPIv3Key, MchID: ptMchID, PlatformKeys: s}
	for _, tc := range []struct {
		key    *rsa.PrivateKey
		serial string
	}{{pubKey, ptPubKeyID}, {c.key, serialC}, {a.key, serialA}, {a.key, strings.ToLower(serialA)}} {
		h, body := signedNotification(t, tc.key, tc.serial, ptAPIv3Key, "T-"+tc.serial)
		if _, err := v.Verify(context.Background(), h, body); err != nil {
			t.Fatalf("%s: %v", tc.serial, err)
		}
	}
	if n := f.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads, want 1 (for %s)", n, serialA)
	}
	// A key under the wrong serial does not verify.
	h, body := signedNotification(t, a.key, ptPubKeyID, ptAPIv3Key, "T-X")
	if _, err := v.Verify(context.Background(), h, body); err == nil {
		t.Fatal("certificate key accepted under the public key's serial")
	}
}

// Registrations come and go with handlers (config reloads): keys and
// credentials leave with them.
func TestPlatformStoreRegistrations(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	c := newPlatformCert(t, ca, keyPlatformC, serialC, yesterday, nextYear)
	ck, err := wxpay.ParsePlatformKey(serialC, c.pem)
	if err != nil {
		t.Fatal(err)
	}
	s := wxpay.NewPlatformStore("", ptMchID)
	if s.Endpoint() != wxpay.DefaultEndpoint {
		t.Fatalf("endpoint %q", s.Endpoint())
	}
	if err := s.RefreshPlatformKeys(context.Background()); !errors.Is(err, wxpay.ErrPlatformNoAuto) {
		t.Fatalf("refresh without auto: %v", err)
	}
	unregister, err := s.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{ck}})
	if err != nil {
		t.Fatal(err)
	}
	wantKey(t, s, serialC, &c.key.PublicKey)
	unregister()
	unregister()
	wantNoKey(t, s, serialC)

	for _, bad := range []*wxpay.PlatformAuto{
		{PrivateKey: ptKey(t, keyMerchant), APIv3Key: ptAPIv3Key},
		{SerialNo: ptMerchantSerial, APIv3Key: ptAPIv3Key},
		{SerialNo: ptMerchantSerial, PrivateKey: ptKey(t, keyMerchant), APIv3Key: "short"},
	} {
		if _, err := s.Register(wxpay.PlatformRegistration{Auto: bad}); err == nil {
			t.Fatal("incomplete download credentials accepted")
		}
	}
	if s.Auto() {
		t.Fatal("auto after refused registrations")
	}
}

func newTestClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signedNotification is a v3 payment notification signed by key under
// serial, its resource encrypted with apiV3Key.
func signedNotification(tb testing.TB, key *rsa.PrivateKey, serial, apiV3Key, outTradeNo string) (http.Header, []byte) {
	tb.Helper()
	resource, _ := json.Marshal(map[string]any{
		"mchid": ptMchID, "appid": "wxd678efh567hg6787", "out_trade_no": outTradeNo,
		"transaction_id": "4200000000000000000", "trade_state": "SUCCESS",
		"success_time": "2024-11-01T10:00:00+08:00",
		"payer":        map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"amount":       map[string]any{"total": 100, "payer_total": 100, "currency": "CNY"},
	})
	nonce := signing.NonceStr()[:12]
	ct, err := signing.EncryptAEADAES256GCM(apiV3Key, "transaction", nonce, resource)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"id": "EV-" + outTradeNo, "create_time": "2024-11-01T10:00:01+08:00", "event_type": "TRANSACTION.SUCCESS",
		"resource_type": "encrypt-resource", "summary": "支付成功",
		"resource": map[string]any{"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": ct, "associated_data": "transaction", "nonce": nonce},
	})
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hn := signing.NonceStr()
	sig, err := signing.RSASHA256Sign(key, signing.WxpayV3VerifyMessage(ts, hn, body))
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", hn)
	h.Set("Wechatpay-Signature", sig)
	return h, body
}

// What another instance stored is checked again (dates, platform_root)
// and not taken when older than RefreshInterval.
func TestPlatformStoreStoredFileChecked(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	otherCA := newTestCA(t, keyOtherCA, "Other Root CA")
	foreign := newPlatformCert(t, otherCA, keyPlatformC, serialC, yesterday, nextYear)
	f := newCertFake(t, foreign, entryOf(foreign))
	st := &memStorage{data: map[string][]byte{}}

	s1 := autoStore(t, f, nil) // no platform_root: takes the foreign certificate
	s1.SetStorage(st)
	mustRefresh(t, s1)
	if f.downloads.Load() != 1 {
		t.Fatal("first download")
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	s2 := autoStore(t, f, pool)
	s2.SetStorage(st)
	var dropped []string
	s2.Events.Dropped = func(serial, reason string) { dropped = append(dropped, reason) }
	if err := s2.RefreshPlatformKeys(context.Background()); err == nil {
		t.Fatal("a certificate not chaining to platform_root was taken")
	}
	wantNoKey(t, s2, serialC)
	if len(dropped) == 0 || !strings.HasPrefix(dropped[0], "stored: does not chain") {
		t.Fatalf("dropped %v", dropped)
	}
	if f.downloads.Load() != 2 {
		t.Fatalf("%d downloads, want 2 (the stored file was refused)", f.downloads.Load())
	}

	// A stored file older than RefreshInterval is not taken: download.
	s3 := autoStore(t, f, nil)
	s3.SetStorage(st)
	clock := newTestClock(time.Now().Add(13 * time.Hour))
	s3.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	mustRefresh(t, s3)
	if f.downloads.Load() != 3 {
		t.Fatalf("%d downloads, want 3 (the stored file is stale)", f.downloads.Load())
	}
}

// failingStorage cannot be written.
type failingStorage struct{ memStorage }

func (*failingStorage) Store(context.Context, string, []byte) error { return errors.New("read-only") }

// A storage that cannot be written does not stop this instance.
func TestPlatformStoreStorageWriteFails(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	s.SetStorage(&failingStorage{memStorage{data: map[string][]byte{}}})
	var failed error
	s.Events.StorageFailed = func(err error) { failed = err }
	mustRefresh(t, s)
	wantKey(t, s, serialA, &a.key.PublicKey)
	if failed == nil {
		t.Fatal("storage failure not reported")
	}
}

// A rotation right after the first download (within MinRefresh) is still
// picked up: the rate limit holds only after a refresh that learned
// nothing, so made-up serials cost at most one fruitless download.
func TestPlatformStoreRotationRightAfterFirstDownload(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	b := newPlatformCert(t, ca, keyPlatformB, serialB, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	v := &wxpay.NotifyVerifier{APIv3Key: ptAPIv3Key, MchID: ptMchID, PlatformKeys: s}

	h, body := signedNotification(t, a.key, a.serial, ptAPIv3Key, "T1")
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("first notification: %v", err)
	}
	clock.Add(10 * time.Second)
	f.rotate(b, entryOf(a), entryOf(b))
	h, body = signedNotification(t, b.key, b.serial, ptAPIv3Key, "T2")
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("new serial 10 s after the first download: %v", err)
	}
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
	// Made-up serials now: one fruitless download, then the limit.
	for i := range 5 {
		clock.Add(time.Second)
		h, body := signedNotification(t, b.key, "FFFF"+strconv.Itoa(i), ptAPIv3Key, "T3")
		if _, err := v.Verify(context.Background(), h, body); err == nil {
			t.Fatal("a made-up serial was accepted")
		}
	}
	if n := f.downloads.Load(); n != 3 {
		t.Fatalf("%d downloads after made-up serials, want 3", n)
	}
}

// Configured keys: a certificate is found by serial in any letter case and
// only within its validity dates; a public key has no dates.
func TestPlatformKeySet(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	valid := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	expired := newPlatformCert(t, ca, keyPlatformB, serialB, yesterday.Add(-48*time.Hour), yesterday)
	set := wxpay.PlatformKeySet{}
	for _, c := range []*platformCert{valid, expired} {
		k, err := wxpay.ParsePlatformKey(c.serial, string(c.pem))
		if err != nil {
			t.Fatal(err)
		}
		set.Add(k)
	}
	now := time.Now()
	if pub, ok := set.PlatformKey(strings.ToLower(serialA), now); !ok || !pub.Equal(&valid.key.PublicKey) {
		t.Fatal("valid certificate not found by a lowercase serial")
	}
	if _, ok := set.PlatformKey(serialB, now); ok {
		t.Fatal("an expired certificate was used")
	}
	// Validity is the caller's clock's: before its end the expired one was usable, the valid one not yet.
	then := yesterday.Add(-24 * time.Hour)
	if _, ok := set.PlatformKey(serialB, then); !ok {
		t.Fatal("a certificate refused within its validity dates")
	}
	if _, ok := set.PlatformKey(serialA, then); ok {
		t.Fatal("a certificate used before its NotBefore")
	}
	if _, err := wxpay.ParsePlatformKey(serialB, string(valid.pem)); err == nil {
		t.Fatal("a certificate configured under another serial was accepted")
	}
}

// A rotation seconds after a background download is still learned from
// the first answer or notification that names the new serial.
func TestPlatformStoreRotationRightAfterBackgroundDownload(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	b := newPlatformCert(t, ca, keyPlatformB, serialB, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := newFakeTimers(t, ctx, s)
	s.Start(ctx)
	// The background download has finished: the store knows A.
	if _, result := ft.tick(); result != "ok" {
		t.Fatalf("background download: %s", result)
	}
	wantKey(t, s, serialA, &a.key.PublicKey)
	f.rotate(b, entryOf(a), entryOf(b))
	v := &wxpay.NotifyVerifier{APIv3Key: ptAPIv3Key, MchID: ptMchID, PlatformKeys: s}
	h, body := signedNotification(t, b.key, b.serial, ptAPIv3Key, "T1")
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("new serial right after a background download: %v", err)
	}
	if n := f.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
}
