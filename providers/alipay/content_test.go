package alipay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// A ciphertext made with OpenSSL (openssl enc -aes-128-cbc -K <key hex>
// -iv 0…0 -base64), the way Alipay's 接口内容加密方式 encrypts: AES-CBC,
// zero IV, PKCS#5.
const (
	vectorAESKey     = "aa4BtZ4tspm2wnXLb1ThQA=="
	vectorCiphertext = "zTYnI/31jI012psOfGN/g/kG6sI7nz8rTMPNrQcvV8/KtSAhG9nEsxVgdEJPr9n267JoS2so5Pd6GGcVD6eVVA=="
	vectorPlaintext  = `{"code":"10000","msg":"Success","mobile":"13800000000"}`
)

func TestContentVector(t *testing.T) {
	key, err := alipay.ParseAESKey(vectorAESKey)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := alipay.DecryptContent(key, vectorCiphertext)
	if err != nil || string(pt) != vectorPlaintext {
		t.Fatalf("DecryptContent = %q, %v", pt, err)
	}
	if ct, err := alipay.EncryptContent(key, []byte(vectorPlaintext)); err != nil || ct != vectorCiphertext {
		t.Errorf("EncryptContent = %q, %v", ct, err)
	}
	other, _ := alipay.ParseAESKey("MDEyMzQ1Njc4OWFiY2RlZg==")
	for name, tc := range map[string]struct {
		key []byte
		ct  string
	}{
		"another key":   {other, vectorCiphertext},
		"not base64":    {key, "%%%"},
		"not a block":   {key, vectorCiphertext[:20]},
		"empty":         {key, ""},
		"short key":     {key[:5], vectorCiphertext},
		"bad last byte": {key, "AAAAAAAAAAAAAAAAAAAAAA=="},
	} {
		if pt, err := alipay.DecryptContent(tc.key, tc.ct); !errors.Is(err, alipay.ErrContent) || pt != nil {
			t.Errorf("%s: %q %v", name, pt, err)
		}
	}
	for _, bad := range []string{"", "c2hvcnQ=", "not base64!"} {
		if _, err := alipay.ParseAESKey(bad); err == nil {
			t.Errorf("ParseAESKey(%q) accepted", bad)
		}
	}
}

func TestVerifyContent(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	content := []byte(`"` + vectorCiphertext + `"`)
	sign2, _ := signing.AlipaySign(k, content, "RSA2")
	sign1, _ := signing.AlipaySign(k, content, "RSA")
	c := &alipay.Client{AlipayPublicKey: &k.PublicKey}
	if err := c.VerifyContent(content, sign2, ""); err != nil {
		t.Errorf("RSA2 by default: %v", err)
	}
	if err := c.VerifyContent(content, sign1, "RSA"); err != nil {
		t.Errorf("RSA: %v", err)
	}
	if err := c.VerifyContent(content[1:len(content)-1], sign2, "RSA2"); err == nil {
		t.Error("the sign over the quoted text verified the bare ciphertext")
	}
	if err := (&alipay.Client{}).VerifyContent(content, sign2, ""); err == nil {
		t.Error("verified with no key")
	}
}
