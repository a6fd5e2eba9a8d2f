package wxpay

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
	"github.com/caddy-unicloud/unicloud/providers/payevent"
	"github.com/caddy-unicloud/unicloud/signing"
)

// maxPlatformAnswer bounds the /v3/certificates answer.
const maxPlatformAnswer = 1 << 20

// platformFile is what the shared storage holds for a merchant: the
// certificates of the last download, decrypted and verified, as PEM.
type platformFile struct {
	FetchedAt    time.Time          `json:"fetched_at"`
	Certificates []platformFileCert `json:"certificates"`
}

type platformFileCert struct {
	SerialNo      string `json:"serial_no"`
	EffectiveTime string `json:"effective_time,omitempty"`
	ExpireTime    string `json:"expire_time,omitempty"`
	Certificate   string `json:"certificate"`
}

// certificatesAnswer is the JSON of GET /v3/certificates.
type certificatesAnswer struct {
	Data []struct {
		SerialNo           string `json:"serial_no"`
		EffectiveTime      string `json:"effective_time"`
		ExpireTime         string `json:"expire_time"`
		EncryptCertificate *struct {
			Algorithm      string `json:"algorithm"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
			Ciphertext     string `json:"ciphertext"`
		} `json:"encrypt_certificate"`
	} `json:"data"`
}

// PlatformError is a refused or failed download of the platform
// certificates. Reason never contains a key.
type PlatformError struct{ Reason string }

func (e *PlatformError) Error() string { return "wxpay: platform certificates: " + e.Reason }

func platformErr(format string, args ...any) error {
	return &PlatformError{Reason: fmt.Sprintf(format, args...)}
}

// StorageKey is where the store keeps the downloaded certificates in the
// shared storage (JSON: fetched_at and the certificates as PEM).
func (s *PlatformStore) StorageKey() string { return s.name + ".json" }

func (s *PlatformStore) lockName() string { return s.name }

// refresh brings the certificates up to date. forced (an unknown serial;
// RefreshPlatformKeys has already applied its rate limit) takes anything
// newer than what is in memory, else downloads; otherwise the certificates
// are downloaded only when older than RefreshInterval. Instances sharing a
// storage download under its lock and re-check the storage after taking
// it, so one of them downloads for all.
func (s *PlatformStore) refresh(ctx context.Context, forced bool) (err error) {
	s.mu.Lock()
	auto := s.autoLocked()
	st := s.storageLocked()
	have := s.fetchedAt
	s.mu.Unlock()
	if auto == nil {
		return ErrPlatformNoAuto
	}
	defer func() {
		s.mu.Lock()
		s.loaded = true
		if err != nil {
			s.lastErr = s.now()
		} else {
			s.lastErr = time.Time{}
		}
		s.mu.Unlock()
	}()

	now := s.now()
	// enough reports whether certificates downloaded at f make a download
	// needless: for a forced refresh, only newer ones than ours (another
	// instance's download); otherwise any younger than RefreshInterval.
	enough := func(f time.Time) bool {
		if f.IsZero() || now.Sub(f) >= s.RefreshInterval {
			return false
		}
		return !forced || f.After(have)
	}
	if !forced && enough(have) {
		return nil
	}
	if st == nil {
		return s.downloadAndKeep(ctx, auto, nil)
	}
	if s.fromStorage(ctx, st, auto, enough) {
		return nil
	}
	lockCtx, cancel := context.WithTimeout(ctx, s.LockTimeout)
	defer cancel()
	if err := st.Lock(lockCtx, s.lockName()); err != nil {
		return platformErr("storage lock: %v", err)
	}
	defer func() { _ = st.Unlock(context.WithoutCancel(ctx), s.lockName()) }()
	// Re-check after locking: the instance that held the lock before us
	// has probably stored a new download.
	if s.fromStorage(ctx, st, auto, enough) {
		return nil
	}
	return s.downloadAndKeep(ctx, auto, st)
}

// fromStorage adopts the stored certificates when enough says they make a
// download needless and at least one of them is usable.
func (s *PlatformStore) fromStorage(ctx context.Context, st PlatformStorage, auto *PlatformAuto, enough func(time.Time) bool) bool {
	raw, err := st.Load(ctx, s.StorageKey())
	if err != nil {
		return false
	}
	var f platformFile
	if json.Unmarshal(raw, &f) != nil || !enough(f.FetchedAt) {
		return false
	}
	now := s.now()
	keys := make([]PlatformKey, 0, len(f.Certificates))
	for _, c := range f.Certificates {
		k, err := checkPlatformCert(c, auto.Root, now)
		if err != nil {
			s.dropped(c.SerialNo, "stored: "+err.Error())
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return false
	}
	s.keep(keys, f.FetchedAt)
	if s.Events.Shared != nil {
		s.Events.Shared()
	}
	return true
}

func (s *PlatformStore) downloadAndKeep(ctx context.Context, auto *PlatformAuto, st PlatformStorage) error {
	f, keys, err := s.download(ctx, auto)
	if err != nil {
		if s.Events.Download != nil {
			s.Events.Download("error", err)
		}
		return err
	}
	s.keep(keys, f.FetchedAt)
	// Told after the keys are in use: whoever hears "ok" finds them.
	if s.Events.Download != nil {
		s.Events.Download("ok", nil)
	}
	if st != nil {
		raw, err := json.Marshal(f)
		if err == nil {
			err = st.Store(ctx, s.StorageKey(), raw)
		}
		if err != nil && s.Events.StorageFailed != nil {
			// Kept in memory: this instance works, the others download
			// on their own.
			s.Events.StorageFailed(err)
		}
	}
	return nil
}

// keep replaces the downloaded certificates.
func (s *PlatformStore) keep(keys []PlatformKey, fetchedAt time.Time) {
	s.mu.Lock()
	s.downloaded = keys
	s.fetchedAt = fetchedAt
	s.rebuildLocked()
	s.mu.Unlock()
}

func (s *PlatformStore) dropped(serial, reason string) {
	if s.Events.Dropped != nil {
		s.Events.Dropped(shortID(serial), reason)
	}
}

// download fetches GET /v3/certificates signed with the merchant key and
// checks the answer: every certificate decrypts with the APIv3 key, the
// answer's Wechatpay-Signature verifies with a certificate of this download
// (or a key already trusted) named by Wechatpay-Serial, within MaxSkew.
// Certificates out of their validity dates, or not chaining to Root, are
// dropped; at least one must remain.
func (s *PlatformStore) download(ctx context.Context, a *PlatformAuto) (*platformFile, []PlatformKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/v3/certificates", nil)
	if err != nil {
		return nil, nil, platformErr("bad endpoint")
	}
	now := s.now()
	auth, err := signing.WxpayV3Authorization(s.mchID, a.SerialNo, a.PrivateKey, http.MethodGet,
		req.URL.RequestURI(), "", strconv.FormatInt(now.Unix(), 10), signing.NonceStr())
	if err != nil {
		return nil, nil, platformErr("request signature: %v", err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "caddy-unicloud")
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, platformErr("download: %v", ctx.Err())
		}
		// A transport error names the URL and the network problem; the
		// request's headers are not part of it.
		return nil, nil, platformErr("download: %v", err)
	}
	defer resp.Body.Close()
	body, err := bounded.ReadBody(resp, maxPlatformAnswer)
	if errors.Is(err, bounded.ErrTooLarge) {
		return nil, nil, platformErr("download: %v", err)
	}
	if err != nil {
		return nil, nil, platformErr("download: the answer could not be read")
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		if e.Code != "" {
			return nil, nil, platformErr("download: HTTP %d %s: %s", resp.StatusCode, shortID(e.Code), shortText(e.Message))
		}
		return nil, nil, platformErr("download: HTTP %d", resp.StatusCode)
	}

	var ans certificatesAnswer
	if err := decodeOneJSON(body, &ans); err != nil {
		return nil, nil, platformErr("download: %v", err)
	}
	f := &platformFile{FetchedAt: now}
	var keys []PlatformKey
	for _, d := range ans.Data {
		ec := d.EncryptCertificate
		if ec == nil || ec.Algorithm != "AEAD_AES_256_GCM" {
			return nil, nil, platformErr("download: certificate %s is not AEAD_AES_256_GCM encrypted", shortID(d.SerialNo))
		}
		pem, err := signing.DecryptAEADAES256GCM(a.APIv3Key, ec.AssociatedData, ec.Nonce, ec.Ciphertext)
		if err != nil {
			return nil, nil, platformErr("download: certificate %s does not decrypt with the APIv3 key", shortID(d.SerialNo))
		}
		c := platformFileCert{SerialNo: d.SerialNo, EffectiveTime: d.EffectiveTime, ExpireTime: d.ExpireTime, Certificate: string(pem)}
		k, err := checkPlatformCert(c, a.Root, now)
		if err != nil {
			s.dropped(d.SerialNo, err.Error())
			continue
		}
		f.Certificates = append(f.Certificates, c)
		keys = append(keys, k)
	}

	// The answer's own signature, by a certificate of this download.
	serial := resp.Header.Get("Wechatpay-Serial")
	ts := resp.Header.Get("Wechatpay-Timestamp")
	nonce := resp.Header.Get("Wechatpay-Nonce")
	sig := resp.Header.Get("Wechatpay-Signature")
	if serial == "" || ts == "" || nonce == "" || sig == "" {
		return nil, nil, platformErr("download: the answer is not signed (Wechatpay-* headers absent)")
	}
	var signer *rsa.PublicKey
	for i := range keys {
		if strings.EqualFold(keys[i].Serial, serial) && keys[i].usable(now) {
			signer = keys[i].PublicKey
		}
	}
	if signer == nil {
		// WeChat Pay may sign with a key already trusted (a configured
		// public key, a certificate of the previous download).
		signer, _ = s.PlatformKey(serial, now)
	}
	if signer == nil {
		return nil, nil, platformErr("download: the answer is signed by %s, neither a usable certificate of the download nor a known key", shortID(serial))
	}
	if err := signing.WxpayV3Verify(signer, ts, nonce, body, sig); err != nil {
		return nil, nil, platformErr("download: Wechatpay-Signature of the answer does not verify")
	}
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, nil, platformErr("download: Wechatpay-Timestamp is not a Unix time")
	}
	maxSkew := a.MaxSkew
	if maxSkew <= 0 {
		maxSkew = DefaultNotifyMaxSkew
	}
	if skew := now.Sub(time.Unix(sent, 0)); skew > maxSkew || -skew > maxSkew {
		return nil, nil, platformErr("download: Wechatpay-Timestamp is %s away from now, more than %s", skew.Round(time.Second), maxSkew)
	}
	if len(keys) == 0 {
		return nil, nil, platformErr("download: no usable certificate in the answer")
	}
	return f, keys, nil
}

// checkPlatformCert parses and checks one decrypted platform certificate:
// its serial is serial_no, now is before the end of its validity (the
// earlier of NotAfter and expire_time), and it chains to root when root is
// set. A certificate not yet effective is kept: it is used from its start.
func checkPlatformCert(c platformFileCert, root *x509.CertPool, now time.Time) (PlatformKey, error) {
	cert, err := signing.ParseCertificate(c.Certificate)
	if err != nil {
		return PlatformKey{}, errors.New("not an X.509 certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return PlatformKey{}, errors.New("the certificate's key is not RSA")
	}
	if !sameSerial(c.SerialNo, cert) {
		return PlatformKey{}, fmt.Errorf("serial_no %s is not the certificate's serial %s", shortID(c.SerialNo), signing.CertificateSerialNo(cert))
	}
	k := PlatformKey{
		Serial:      strings.ToUpper(c.SerialNo),
		PublicKey:   pub,
		Certificate: cert,
		NotBefore:   cert.NotBefore,
		NotAfter:    cert.NotAfter,
	}
	if c.EffectiveTime != "" {
		t, err := time.Parse(time.RFC3339, c.EffectiveTime)
		if err != nil {
			return PlatformKey{}, errors.New("effective_time is not an RFC 3339 time")
		}
		if t.After(k.NotBefore) {
			k.NotBefore = t
		}
	}
	if c.ExpireTime != "" {
		t, err := time.Parse(time.RFC3339, c.ExpireTime)
		if err != nil {
			return PlatformKey{}, errors.New("expire_time is not an RFC 3339 time")
		}
		if t.Before(k.NotAfter) {
			k.NotAfter = t
		}
	}
	if !now.Before(k.NotAfter) {
		return PlatformKey{}, fmt.Errorf("expired on %s", k.NotAfter.UTC().Format(time.RFC3339))
	}
	if root != nil {
		at := now
		if at.Before(cert.NotBefore) {
			at = cert.NotBefore
		}
		if _, err := cert.Verify(x509.VerifyOptions{
			Roots:       root,
			CurrentTime: at,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}); err != nil {
			return PlatformKey{}, errors.New("does not chain to platform_root")
		}
	}
	return k, nil
}

// shortText quotes a provider's text for an error.
func shortText(s string) string { return payevent.Short(s, 80) }

// Start runs the background refresh until ctx is done: the first download
// FirstDownload after Start when nothing asked for the keys before, then
// when the certificates are RefreshInterval old, and after a failure every
// Retry. It waits while no registration has platform_certs auto.
func (s *PlatformStore) Start(ctx context.Context) {
	go s.run(ctx, s.now())
}

// newTimer is the background refresh's timer: its channel and its stop.
func newTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (s *PlatformStore) run(ctx context.Context, start time.Time) {
	if s.runDone != nil {
		defer s.runDone()
	}
	for {
		wait, active := s.nextRefresh(start)
		var tick <-chan time.Time
		stop := func() {}
		if active {
			tick, stop = s.after(wait)
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-s.changed:
			stop()
		case <-tick:
			ch := s.group.DoChan("refresh", func() (any, error) {
				rctx, cancel := context.WithTimeout(ctx, s.LockTimeout+30*time.Second)
				defer cancel()
				return nil, s.refresh(rctx, false)
			})
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			// The next wait is read from the state after this download: a
			// change signalled before it is already in that state.
			select {
			case <-s.changed:
			default:
			}
		}
	}
}

// nextRefresh is how long until the background refresh is due, and whether
// there is one at all.
func (s *PlatformStore) nextRefresh(start time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.autoLocked() == nil {
		return 0, false
	}
	var due time.Time
	switch {
	case !s.lastErr.IsZero():
		due = s.lastErr.Add(s.Retry)
	case s.fetchedAt.IsZero():
		due = start.Add(s.FirstDownload)
	default:
		due = s.fetchedAt.Add(s.RefreshInterval)
	}
	wait := due.Sub(s.now())
	if wait < 0 {
		wait = 0
	}
	return wait, true
}
