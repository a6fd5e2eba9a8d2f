package alipay

import (
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Public-key-certificate mode (公钥证书模式): instead of a bare Alipay
// public key, the merchant holds three certificates from Alipay's console:
// the app's own (app_cert), Alipay's (alipay_cert) and Alipay's root
// bundle (alipay_root_cert). Requests name the first and the last by their
// SN; answers name the Alipay certificate they were signed with.

// CertError is a certificate-mode configuration that cannot be used. Field
// names the subdirective to fix (app_cert, alipay_cert, alipay_root_cert).
type CertError struct {
	Field string
	Err   error
}

func (e *CertError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *CertError) Unwrap() error { return e.Err }

// ErrUnknownCertSN is an answer or notification naming an alipay_cert_sn
// that is not one of the configured Alipay certificates.
var ErrUnknownCertSN = errors.New("alipay_cert_sn is not a configured Alipay certificate")

// CertSN is Alipay's SN of a certificate: lowercase hex md5 of the issuer
// distinguished name, in Alipay's form (IssuerDN), followed by the serial
// number in base 10.
func CertSN(cert *x509.Certificate) (string, error) {
	dn, err := IssuerDN(cert)
	if err != nil {
		return "", err
	}
	sum := md5.Sum([]byte(dn + cert.SerialNumber.String()))
	return hex.EncodeToString(sum[:]), nil
}

// rdnSET and rawATV read a Name keeping the order and the encoding of
// every attribute (crypto/x509's pkix.Name reorders them).
type rdnSET []rawATV

type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// dnShortNames are the attribute names RFC 2253 (and Java's X500Principal)
// write by name; any other attribute is written as its dotted OID.
var dnShortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// IssuerDN is the issuer of cert as Alipay's SDKs write it for the SN (the
// Java SDK's X500Principal.getName(), RFC 2253): the relative names in
// reverse order of their encoding (CN first), each SHORT=value, joined by
// "," with no spaces, e.g.
// "CN=Ant Financial Certification Authority Class 2 R1,OU=Certification Authority,O=Ant Financial,C=CN".
// Attributes of one multi-valued name are joined by "+"; an attribute with
// no short name is OID=#hex of its encoding, as RFC 2253 says.
func IssuerDN(cert *x509.Certificate) (string, error) {
	var seq []rdnSET
	rest, err := asn1.Unmarshal(cert.RawIssuer, &seq)
	if err != nil || len(rest) != 0 {
		return "", errors.New("alipay: unreadable certificate issuer")
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			name, known := dnShortNames[atv.Type.String()]
			if !known {
				b.WriteString(atv.Type.String())
				b.WriteString("=#")
				b.WriteString(hex.EncodeToString(atv.Value.FullBytes))
				continue
			}
			var s string
			if _, err := asn1.Unmarshal(atv.Value.FullBytes, &s); err != nil || !utf8.ValidString(s) {
				b.WriteString(name)
				b.WriteString("=#")
				b.WriteString(hex.EncodeToString(atv.Value.FullBytes))
				continue
			}
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(escapeDNValue(s))
		}
	}
	return b.String(), nil
}

// escapeDNValue escapes a value as RFC 2253 section 2.4 says.
func escapeDNValue(s string) string {
	if !strings.ContainsAny(s, ",+\"\\<>;") && !strings.HasPrefix(s, "#") && !strings.HasPrefix(s, " ") && !strings.HasSuffix(s, " ") {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(",+\"\\<>;", r),
			i == 0 && (r == '#' || r == ' '),
			r == ' ' && i == len(s)-1:
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// oidRSASignature is the arc of the PKCS#1 signature algorithms
// (sha1WithRSAEncryption 1.2.840.113549.1.1.5, sha256WithRSAEncryption .11…).
var oidRSASignature = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1}

// rsaSigned tells whether cert is signed with an RSA algorithm, by the OID
// of its signatureAlgorithm (as the Java and Node SDKs test it).
func rsaSigned(cert *x509.Certificate) bool {
	var outer struct {
		TBS    asn1.RawValue
		SigAlg pkix.AlgorithmIdentifier
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.Raw, &outer); err != nil {
		return false
	}
	oid := outer.SigAlg.Algorithm
	return len(oid) == len(oidRSASignature)+1 && oid[:len(oidRSASignature)].Equal(oidRSASignature)
}

// pemCerts reads the CERTIFICATE blocks of a PEM text in order. Blocks
// that crypto/x509 cannot parse (Alipay's bundle has an SM2 entry) are
// counted in skipped, not returned.
func pemCerts(text string) (certs []*x509.Certificate, skipped int) {
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs, skipped
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			skipped++
			continue
		}
		certs = append(certs, c)
	}
}

// RootCertSN is alipay_root_cert_sn of a root bundle: the SNs of its
// RSA-signed certificates, in file order, joined by "_". Entries signed
// otherwise (ECDSA, SM2) and entries that cannot be parsed are left out.
func RootCertSN(bundle string) (string, error) {
	certs, _ := pemCerts(bundle)
	var sns []string
	for _, c := range certs {
		if !rsaSigned(c) {
			continue
		}
		sn, err := CertSN(c)
		if err != nil {
			return "", err
		}
		sns = append(sns, sn)
	}
	if len(sns) == 0 {
		return "", errors.New("no RSA-signed certificate in the root bundle")
	}
	return strings.Join(sns, "_"), nil
}

// CertOptions are the PEM texts of a certificate-mode configuration.
type CertOptions struct {
	// AppCert is the app's public-key certificate (appCertPublicKey_….crt):
	// its first certificate is the app's.
	AppCert string
	// AlipayCerts are Alipay's public-key certificates
	// (alipayCertPublicKey_RSA2.crt), one or more (during a rotation, the
	// current and the next): the first certificate of each text is
	// Alipay's, what follows its intermediates.
	AlipayCerts []string
	// RootCert is Alipay's root bundle (alipayRootCert.crt).
	RootCert string
	// PrivateKey, when set, must be the key of AppCert.
	PrivateKey *rsa.PrivateKey
	// Now is the clock of the validity dates (default time.Now).
	Now func() time.Time
	// AppCertOptional leaves AppCert optional (notification verifiers);
	// RootCert is then optional too, and when empty the chain is not checked.
	AppCertOptional bool
}

// Certs is a loaded certificate-mode configuration: the SNs requests carry
// and the Alipay public keys answers are verified with, keyed by SN. It is
// safe for concurrent use.
type Certs struct {
	// AppCertSN is app_cert_sn ("" when no app certificate was given).
	AppCertSN string
	// RootCertSN is alipay_root_cert_sn ("" when no root bundle was given).
	RootCertSN string
	keys       map[string]*rsa.PublicKey
	sns        []string // sorted
}

// LoadCerts parses and checks a certificate-mode configuration: every file
// holds a parseable certificate, the app certificate's key is PrivateKey's,
// every Alipay certificate is an RSA key that chains (through the other
// certificates of its file) to a certificate of the root bundle, with
// signatures and validity dates checked at Now, any key usage. Errors are
// *CertError naming the subdirective.
func LoadCerts(o CertOptions) (*Certs, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	cs := &Certs{keys: make(map[string]*rsa.PublicKey, len(o.AlipayCerts))}
	if o.AppCert != "" || !o.AppCertOptional {
		certs, _ := pemCerts(o.AppCert)
		if len(certs) == 0 {
			return nil, &CertError{"app_cert", errors.New("no certificate could be read (PEM text of appCertPublicKey_….crt expected)")}
		}
		sn, err := CertSN(certs[0])
		if err != nil {
			return nil, &CertError{"app_cert", err}
		}
		cs.AppCertSN = sn
		if o.PrivateKey != nil {
			pub, ok := certs[0].PublicKey.(*rsa.PublicKey)
			if !ok || !pub.Equal(&o.PrivateKey.PublicKey) {
				return nil, &CertError{"app_cert", errors.New("the certificate's public key is not the one of private_key")}
			}
		}
	}
	var roots []*x509.Certificate
	if o.RootCert != "" || !o.AppCertOptional {
		sn, err := RootCertSN(o.RootCert)
		if err != nil {
			return nil, &CertError{"alipay_root_cert", err}
		}
		cs.RootCertSN = sn
		roots, _ = pemCerts(o.RootCert)
	}
	if len(o.AlipayCerts) == 0 {
		return nil, &CertError{"alipay_cert", errors.New("missing: Alipay's public-key certificate (alipayCertPublicKey_RSA2.crt) is needed")}
	}
	for i, text := range o.AlipayCerts {
		field := "alipay_cert"
		if len(o.AlipayCerts) > 1 {
			field = fmt.Sprintf("alipay_cert #%d", i+1)
		}
		certs, _ := pemCerts(text)
		if len(certs) == 0 {
			return nil, &CertError{field, errors.New("no certificate could be read (PEM text of alipayCertPublicKey_RSA2.crt expected)")}
		}
		leaf := certs[0]
		pub, ok := leaf.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, &CertError{field, errors.New("the certificate's key is not RSA (an RSA2 certificate is needed)")}
		}
		if roots != nil {
			if err := chain(leaf, certs[1:], roots, now()); err != nil {
				return nil, &CertError{field, fmt.Errorf("does not chain to alipay_root_cert: %w", err)}
			}
		}
		sn, err := CertSN(leaf)
		if err != nil {
			return nil, &CertError{field, err}
		}
		if _, dup := cs.keys[sn]; dup {
			return nil, &CertError{field, fmt.Errorf("the same certificate (SN %s) is given twice", sn)}
		}
		cs.keys[sn] = pub
		cs.sns = append(cs.sns, sn)
	}
	sort.Strings(cs.sns)
	return cs, nil
}

// maxChain bounds the certificates between a leaf and its root.
const maxChain = 8

// chain checks that leaf is signed, through intermediates, by a
// certificate of roots, every certificate on the way valid at now. It is
// not crypto/x509's path validation on purpose: the intermediate of
// Alipay's sandbox certificates carries no CA basic constraint and no
// certSign key usage, which Verify refuses; only signatures and dates are
// checked, as Alipay's SDKs do.
func chain(leaf *x509.Certificate, intermediates, roots []*x509.Certificate, now time.Time) error {
	cur := leaf
	for range maxChain {
		if err := validAt(cur, now); err != nil {
			return err
		}
		for _, r := range roots {
			if r.Equal(cur) {
				return nil
			}
		}
		if r := signer(cur, roots); r != nil {
			return validAt(r, now)
		}
		next := signer(cur, intermediates)
		if next == nil || next.Equal(cur) {
			return fmt.Errorf("no certificate of alipay_root_cert (nor of the file) signed %q", cur.Issuer.CommonName)
		}
		cur = next
	}
	return errors.New("the chain is too long")
}

// signer is the certificate of candidates that issued c: its subject is
// c's issuer and its key verifies c's signature.
func signer(c *x509.Certificate, candidates []*x509.Certificate) *x509.Certificate {
	for _, p := range candidates {
		if string(p.RawSubject) == string(c.RawIssuer) && p.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return p
		}
	}
	return nil
}

func validAt(c *x509.Certificate, now time.Time) error {
	switch {
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// AlipayCertSNs are the SNs of the configured Alipay certificates, sorted.
func (cs *Certs) AlipayCertSNs() []string { return append([]string(nil), cs.sns...) }

// Keys are the Alipay public keys an answer naming sn may be verified
// with: the certificate of that SN, or, when sn is empty, every configured
// one. An SN that is not configured is ErrUnknownCertSN.
func (cs *Certs) Keys(sn string) ([]*rsa.PublicKey, error) {
	if sn == "" {
		keys := make([]*rsa.PublicKey, 0, len(cs.sns))
		for _, s := range cs.sns {
			keys = append(keys, cs.keys[s])
		}
		return keys, nil
	}
	k, ok := cs.keys[sn]
	if !ok {
		return nil, fmt.Errorf("%w (answer names %q)", ErrUnknownCertSN, shortID(sn))
	}
	return []*rsa.PublicKey{k}, nil
}
