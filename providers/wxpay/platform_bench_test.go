package wxpay_test

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// BenchmarkPlatformKeyHit is the lookup every v3 notification and answer
// makes: a known serial, among a public key and certificates.
func BenchmarkPlatformKeyHit(b *testing.B) {
	ca := newTestCA(b, keyCA, "Test Root CA")
	a := newPlatformCert(b, ca, keyPlatformA, serialA, yesterday, nextYear)
	c := newPlatformCert(b, ca, keyPlatformC, serialC, yesterday, nextYear)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ptKey(b, keyPublicMode).PublicKey)
	pk, err := wxpay.ParsePlatformKey(ptPubKeyID, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	if err != nil {
		b.Fatal(err)
	}
	ak, _ := wxpay.ParsePlatformKey(serialA, a.pem)
	ck, _ := wxpay.ParsePlatformKey(serialC, c.pem)
	s := wxpay.NewPlatformStore("", ptMchID)
	if _, err := s.Register(wxpay.PlatformRegistration{Keys: []wxpay.PlatformKey{pk, ak, ck}}); err != nil {
		b.Fatal(err)
	}
	for _, serial := range []string{serialA, strings.ToLower(serialA), ptPubKeyID} {
		b.Run(serial[:8], func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, ok := s.PlatformKey(serial, time.Now()); !ok {
						b.Fatal("miss")
					}
				}
			})
		})
	}
}
