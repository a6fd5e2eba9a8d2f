package signing

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// WxpayV3Message is the string a WeChat Pay APIv3 request signature covers:
// METHOD\nURL\ntimestamp\nnonce\nbody\n, URL being the path plus query, and
// an empty body still ending in \n.
func WxpayV3Message(method, url, timestamp, nonce, body string) string {
	var b strings.Builder
	b.Grow(len(method) + len(url) + len(timestamp) + len(nonce) + len(body) + 5)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(url)
	b.WriteByte('\n')
	b.WriteString(timestamp)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.WriteString(body)
	b.WriteByte('\n')
	return b.String()
}

// RSASHA256Sign signs message with SHA256withRSA (PKCS#1 v1.5), base64.
// PKCS#1 v1.5 is deterministic: the same key and message give the same
// signature.
func RSASHA256Sign(key *rsa.PrivateKey, message []byte) (string, error) {
	return rsaSign(key, crypto.SHA256, message)
}

func rsaSign(key *rsa.PrivateKey, h crypto.Hash, message []byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("signing: rsa sign: nil key: %w", ErrBadKey)
	}
	hh := h.New()
	hh.Write(message)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, hh.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("signing: rsa sign: %w: %w", err, ErrBadKey)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// rsaVerify checks a base64 PKCS#1 v1.5 signature of message.
func rsaVerify(pub *rsa.PublicKey, h crypto.Hash, message []byte, sigBase64 string) error {
	if pub == nil {
		return fmt.Errorf("nil key: %w", ErrBadKey)
	}
	if sigBase64 == "" {
		return ErrMissingSignature
	}
	sig, err := base64.StdEncoding.DecodeString(sigBase64)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", ErrBadSignature)
	}
	hh := h.New()
	hh.Write(message)
	if rsa.VerifyPKCS1v15(pub, h, hh.Sum(nil), sig) != nil {
		return ErrBadSignature
	}
	return nil
}

// headerSafe reports whether s can sit between the quotes of an
// Authorization parameter.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// WxpayV3Authorization is the Authorization header of a WeChat Pay APIv3
// request:
//
//	WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"
//
// signed with the merchant API private key over WxpayV3Message.
func WxpayV3Authorization(mchID, serialNo string, key *rsa.PrivateKey, method, url, body, timestamp, nonce string) (string, error) {
	for _, f := range [...]string{mchID, serialNo, timestamp, nonce} {
		if !headerSafe(f) {
			return "", fmt.Errorf("signing: wxpay v3 authorization: a field contains a quote, backslash or control character: %w", ErrInvalidInput)
		}
	}
	sig, err := RSASHA256Sign(key, []byte(WxpayV3Message(method, url, timestamp, nonce, body)))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(sig) + len(mchID) + len(serialNo) + len(timestamp) + len(nonce) + 96)
	b.WriteString(`WECHATPAY2-SHA256-RSA2048 mchid="`)
	b.WriteString(mchID)
	b.WriteString(`",nonce_str="`)
	b.WriteString(nonce)
	b.WriteString(`",signature="`)
	b.WriteString(sig)
	b.WriteString(`",timestamp="`)
	b.WriteString(timestamp)
	b.WriteString(`",serial_no="`)
	b.WriteString(serialNo)
	b.WriteString(`"`)
	return b.String(), nil
}

// WxpayV3VerifyMessage is the string an APIv3 answer or notification
// signature covers: timestamp\nnonce\nbody\n, built with one copy of body.
func WxpayV3VerifyMessage(timestamp, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(timestamp)+len(nonce)+len(body)+3)
	m = append(m, timestamp...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, body...)
	m = append(m, '\n')
	return m
}

// WxpayV3Verify checks a Wechatpay-Signature (base64 SHA256withRSA) over
// timestamp\nnonce\nbody\n with the platform public key. Freshness of the
// timestamp and the choice of key by Wechatpay-Serial are the caller's.
func WxpayV3Verify(pub *rsa.PublicKey, timestamp, nonce string, body []byte, signatureBase64 string) error {
	// Hash the three parts without building the message: a notification
	// body can be large and is already in memory once.
	if pub == nil {
		return fmt.Errorf("signing: wxpay v3 verify: nil key: %w", ErrBadKey)
	}
	if signatureBase64 == "" {
		return fmt.Errorf("signing: wxpay v3 verify: %w", ErrMissingSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(signatureBase64)
	if err != nil {
		return fmt.Errorf("signing: wxpay v3 verify: signature is not base64: %w", ErrBadSignature)
	}
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write([]byte{'\n'})
	h.Write([]byte(nonce))
	h.Write([]byte{'\n'})
	h.Write(body)
	h.Write([]byte{'\n'})
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h.Sum(nil), sig) != nil {
		return fmt.Errorf("signing: wxpay v3 verify: %w", ErrBadSignature)
	}
	return nil
}

// aeadAES256GCM returns the AEAD of an APIv3 key (32 bytes) for a nonce of
// the given length (WeChat Pay uses 12).
func aeadAES256GCM(apiV3Key string, nonceLen int) (cipher.AEAD, error) {
	if len(apiV3Key) != 32 {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: APIv3 key is %d bytes, want 32: %w", len(apiV3Key), ErrBadKey)
	}
	if nonceLen == 0 {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: empty nonce: %w", ErrInvalidInput)
	}
	block, err := aes.NewCipher([]byte(apiV3Key))
	if err != nil {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: %w", ErrBadKey)
	}
	var aead cipher.AEAD
	if nonceLen == 12 {
		aead, err = cipher.NewGCM(block)
	} else {
		aead, err = cipher.NewGCMWithNonceSize(block, nonceLen)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: nonce: %w", ErrInvalidInput)
	}
	return aead, nil
}

// DecryptAEADAES256GCM decrypts an APIv3 resource (notification resource,
// downloaded platform certificate): AEAD_AES_256_GCM with the APIv3 key,
// ciphertext base64 with the 16-byte tag at the end. A wrong key, a changed
// byte or a truncated ciphertext is ErrDecrypt.
func DecryptAEADAES256GCM(apiV3Key, associatedData, nonce, ciphertextBase64 string) ([]byte, error) {
	aead, err := aeadAES256GCM(apiV3Key, len(nonce))
	if err != nil {
		return nil, err
	}
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ciphertextBase64))
	if err != nil {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: ciphertext is not base64: %w", ErrDecrypt)
	}
	if len(ct) < aead.Overhead() {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: ciphertext shorter than the tag: %w", ErrDecrypt)
	}
	pt, err := aead.Open(ct[:0], []byte(nonce), ct, []byte(associatedData)) // in place: ct is ours
	if err != nil {
		return nil, fmt.Errorf("signing: AEAD_AES_256_GCM: %w", ErrDecrypt)
	}
	return pt, nil
}

// EncryptAEADAES256GCM is the inverse of DecryptAEADAES256GCM, for the
// emulator and tests.
func EncryptAEADAES256GCM(apiV3Key, associatedData, nonce string, plaintext []byte) (string, error) {
	aead, err := aeadAES256GCM(apiV3Key, len(nonce))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))), nil
}

// WxpayV3PaySign is the paySign of an APIv3 mini-program / JSAPI payment
// (signType "RSA"): SHA256withRSA over appId\ntimeStamp\nnonceStr\npackage\n.
// The APIv3 app payment's sign is the same over appid, timestamp, noncestr
// and prepayid.
func WxpayV3PaySign(key *rsa.PrivateKey, appID, timestamp, nonce, pkg string) (string, error) {
	msg := make([]byte, 0, len(appID)+len(timestamp)+len(nonce)+len(pkg)+4)
	for _, s := range [...]string{appID, timestamp, nonce, pkg} {
		msg = append(msg, s...)
		msg = append(msg, '\n')
	}
	return RSASHA256Sign(key, msg)
}
