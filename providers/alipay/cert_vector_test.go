package alipay_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// Real certificates (testdata/alipay_cert, see its README) with the SNs
// published for them: Alipay's production root bundle, whose
// alipay_root_cert_sn every certificate-mode merchant sends; an app
// certificate and an Alipay certificate whose SNs an SDK's tests record.
const (
	vectorRootSN   = "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6"
	vectorAppSN    = "4498aaa8ab0c8986c15c41b36186db7d"
	vectorAlipaySN = "04afd423ea5bd6f5c5482854ed73278c" // a leading zero kept
)

func readAlipayCert(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "alipay_cert", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestCertSNVectors(t *testing.T) {
	root := readAlipayCert(t, "alipayRootCert.crt")
	if sn, err := alipay.RootCertSN(root); err != nil || sn != vectorRootSN {
		t.Errorf("RootCertSN(Alipay's root bundle) = %q, %v; want %q", sn, err, vectorRootSN)
	}
	for name, want := range map[string]string{
		"appCertPublicKey_2019090366874103.crt": vectorAppSN,
		"alipayCertPublicKey_RSA2.crt":          vectorAlipaySN,
	} {
		block, _ := pem.Decode([]byte(readAlipayCert(t, name)))
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if sn, err := alipay.CertSN(c); err != nil || sn != want {
			t.Errorf("CertSN(%s) = %q, %v; want %q", name, sn, err, want)
		}
	}
}

// Alipay's production certificate chains, through the intermediate of its
// file, to the root bundle while it was valid; not after it expired.
func TestLoadCertsRealChain(t *testing.T) {
	o := alipay.CertOptions{
		AppCert:     readAlipayCert(t, "appCertPublicKey_2019090366874103.crt"),
		AlipayCerts: []string{readAlipayCert(t, "alipayCertPublicKey_RSA2.crt")},
		RootCert:    readAlipayCert(t, "alipayRootCert.crt"),
		Now:         func() time.Time { return time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC) },
	}
	cs, err := alipay.LoadCerts(o)
	if err != nil {
		t.Fatal(err)
	}
	if sns := cs.AlipayCertSNs(); cs.AppCertSN != vectorAppSN || cs.RootCertSN != vectorRootSN || len(sns) != 1 || sns[0] != vectorAlipaySN {
		t.Errorf("SNs %q %q %q", cs.AppCertSN, cs.RootCertSN, sns)
	}
	o.Now = func() time.Time { return time.Date(2021, 9, 1, 0, 0, 0, 0, time.UTC) }
	if _, err := alipay.LoadCerts(o); err == nil {
		t.Error("an expired Alipay certificate was accepted")
	}
}
