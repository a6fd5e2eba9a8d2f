package signing

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// keyDER turns a key given as PEM, or as the bare base64 of its DER (the way
// Alipay's console and most configuration files hand keys out), into DER
// blocks to try, each with its PEM type ("" for bare base64).
//
// Keys pasted into environment variables often carry literal `\n`
// sequences instead of newlines; they are accepted too.
//
// Its errors say what to fix and never quote the input: it may be a
// secret.
func keyDER(in string) ([]*pem.Block, error) {
	s := strings.TrimSpace(in)
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.Contains(s, "-----BEGIN") {
		if !strings.Contains(s, "\n") && strings.Contains(s, `\n`) {
			s = strings.ReplaceAll(s, `\n`, "\n")
		}
		var blocks []*pem.Block
		rest := []byte(s)
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			blocks = append(blocks, b)
		}
		if len(blocks) == 0 {
			return nil, errors.New("malformed PEM: check that the -----BEGIN and -----END lines are both there and that no line was cut or joined")
		}
		return blocks, nil
	}
	// Valid base64 DER never has this shape (it starts with "MI"), but
	// "/etc/alipay/key" decodes as base64 too.
	if looksLikePath(s) {
		return nil, errors.New("neither PEM nor base64: this looks like a file path; give the file's content (in a Caddyfile: {file./path/to/key.pem})")
	}
	der, err := decodeBase64Loose(s)
	if err != nil {
		return nil, errors.New("neither PEM (-----BEGIN …) nor base64 DER: give the key's content as its PEM file holds it")
	}
	return []*pem.Block{{Bytes: der}}, nil
}

// looksLikePath reports whether s has the shape of a file path rather than
// of key material: base64 has no '.' and no DER key's base64 begins with '/'.
func looksLikePath(s string) bool {
	if strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~/") ||
		strings.Contains(s, `\`) || len(s) > 2 && s[1] == ':' && (s[2] == '/' || s[2] == '\\') {
		return true
	}
	lower := strings.ToLower(s)
	for _, ext := range []string{".pem", ".key", ".crt", ".cer", ".der", ".txt", ".pub"} {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// LooksLikePath reports whether a value given for a key or certificate
// has the shape of a file path rather than of PEM or base64 content.
func LooksLikePath(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && !strings.Contains(s, "-----BEGIN") && looksLikePath(s)
}

// decodeBase64Loose decodes standard base64 ignoring whitespace, with or
// without padding.
func decodeBase64Loose(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '\v', '\f':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func isEncryptedPEM(b *pem.Block) bool {
	return b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
}

// ParseRSAPrivateKey parses an RSA private key given as PEM or as bare base64
// of its DER, PKCS#1 or PKCS#8. Encrypted keys are refused.
func ParseRSAPrivateKey(pemOrBase64 string) (*rsa.PrivateKey, error) {
	blocks, err := keyDER(pemOrBase64)
	if err != nil {
		return nil, fmt.Errorf("signing: private key: %s: %w", err, ErrBadKey)
	}
	for _, b := range blocks {
		if b.Type != "" && !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue // e.g. a certificate in the same file
		}
		if isEncryptedPEM(b) {
			return nil, fmt.Errorf("signing: private key: encrypted keys are not supported: decrypt it first (openssl pkey -in key.pem -out plain.pem): %w", ErrBadKey)
		}
		// Labels are not trusted: PKCS#8 keys are often labelled "RSA PRIVATE KEY".
		if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("signing: private key: %s is not an RSA key (RSA2 and APIv3 sign with RSA): %w", keyKind(k), ErrBadKey)
			}
			return rk, nil
		}
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return k, nil
		}
	}
	if hasPublicKey(blocks) {
		return nil, fmt.Errorf("signing: private key: this is a public key or a certificate, not a private key: give the private key: %w", ErrBadKey)
	}
	return nil, fmt.Errorf("signing: private key: no PKCS#1 or PKCS#8 RSA private key found: give a PEM \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" (or its base64), complete: %w", ErrBadKey)
}

// hasPublicKey reports whether one of blocks is a public key or a
// certificate: the usual mix-up of the two halves of a key pair.
func hasPublicKey(blocks []*pem.Block) bool {
	for _, b := range blocks {
		switch b.Type {
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			return true
		case "":
			if pub, err := publicKeyFromDER(b.Bytes); pub != nil || err != nil {
				return true
			}
		}
	}
	return false
}

// hasPrivateKey reports whether one of blocks is a private key.
func hasPrivateKey(blocks []*pem.Block) bool {
	for _, b := range blocks {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			return true
		}
		if b.Type == "" {
			if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				return true
			}
			if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
				return true
			}
		}
	}
	return false
}

// keyKind names a key's algorithm for an error message.
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "an ECDSA key"
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "an Ed25519 key"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "an ECDH key"
	}
	return fmt.Sprintf("a %T", k)
}

// ParseRSAPublicKey parses an RSA public key given as PEM or bare base64 of
// its DER: PKIX (SubjectPublicKeyInfo, "PUBLIC KEY"), PKCS#1 ("RSA PUBLIC
// KEY"), or an X.509 certificate, whose public key is returned.
func ParseRSAPublicKey(pemOrBase64 string) (*rsa.PublicKey, error) {
	blocks, err := keyDER(pemOrBase64)
	if err != nil {
		return nil, fmt.Errorf("signing: public key: %s: %w", err, ErrBadKey)
	}
	for _, b := range blocks {
		switch b.Type {
		case "", "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		default:
			continue
		}
		pub, err := publicKeyFromDER(b.Bytes)
		if err != nil {
			return nil, err
		}
		if pub != nil {
			return pub, nil
		}
	}
	if hasPrivateKey(blocks) {
		return nil, fmt.Errorf("signing: public key: this is a private key, not a public key: give the public key (for Alipay, Alipay's public key, not the application's): %w", ErrBadKey)
	}
	return nil, fmt.Errorf("signing: public key: no RSA public key found: give a PEM \"PUBLIC KEY\", \"RSA PUBLIC KEY\" or \"CERTIFICATE\" (or its base64), complete: %w", ErrBadKey)
}

// publicKeyFromDER returns (nil, nil) when der is none of the known shapes,
// and an error when it is one of them but not RSA.
func publicKeyFromDER(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("signing: public key: %s is not an RSA key: %w", keyKind(k), ErrBadKey)
		}
		return rk, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("signing: public key: the certificate's key is %s, not RSA: %w", keyKind(c.PublicKey), ErrBadKey)
		}
		return rk, nil
	}
	return nil, nil
}

// ParseCertificate parses an X.509 certificate given as PEM or bare base64 of
// its DER. With several PEM blocks, the first certificate is returned.
func ParseCertificate(pemOrBase64 string) (*x509.Certificate, error) {
	blocks, err := keyDER(pemOrBase64)
	if err != nil {
		return nil, fmt.Errorf("signing: certificate: %s: %w", err, ErrBadKey)
	}
	for _, b := range blocks {
		if b.Type != "" && b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("signing: certificate: cannot parse the certificate (%w): give a complete PEM \"CERTIFICATE\" or its base64: %w", err, ErrBadKey)
		}
		return c, nil
	}
	return nil, fmt.Errorf("signing: certificate: no certificate found: give a PEM \"CERTIFICATE\" (or its base64), not a key: %w", ErrBadKey)
}

// CertificateSerialNo is a certificate's serial number the way WeChat Pay
// writes it in Wechatpay-Serial and serial_no: uppercase hex.
func CertificateSerialNo(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return strings.ToUpper(c.SerialNumber.Text(16))
}

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NonceStr returns 32 random characters of [0-9A-Za-z] from crypto/rand, the
// shape WeChat Pay uses for nonce_str.
func NonceStr() string {
	var out [32]byte
	var buf [48]byte
	n := 0
	for n < len(out) {
		_, _ = rand.Read(buf[:]) // never fails (it crashes the program instead)
		for _, c := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the draw uniform.
			if c < 248 && n < len(out) {
				out[n] = nonceAlphabet[int(c)%len(nonceAlphabet)]
				n++
			}
		}
	}
	return string(out[:])
}
