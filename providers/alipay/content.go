package alipay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-unicloud/unicloud/signing"
)

// Content encryption (接口内容加密方式) and the signed content the
// mini-program gets from my.getPhoneNumber.

// ErrContent is content that could not be decrypted with the AES key:
// a wrong key, bad padding or not base64. Its plaintext is never shown.
var ErrContent = errors.New("alipay: content could not be decrypted with the AES key")

// ParseAESKey reads the app's content-encryption key as Alipay's console
// shows it: base64 of 16 bytes (AES-128).
func ParseAESKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, errors.New("not base64 (the AES key of 接口内容加密方式, as Alipay's console shows it)")
	}
	if len(key) != 16 {
		return nil, fmt.Errorf("must be the base64 of 16 bytes (AES-128), not %d bytes", len(key))
	}
	return key, nil
}

// DecryptContent decrypts encrypted content as Alipay's SDKs do: base64,
// then AES-CBC with key and an IV of 16 zero bytes, PKCS#5/7 padding
// checked (in constant time over the last block).
func DecryptContent(key []byte, b64 string) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrContent
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrContent
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(pt, ct)
	n := int(pt[len(pt)-1])
	if n < 1 || n > aes.BlockSize {
		return nil, ErrContent
	}
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(n)
	}
	if subtle.ConstantTimeCompare(pt[len(pt)-n:], want) != 1 {
		return nil, ErrContent
	}
	return pt[:len(pt)-n], nil
}

// EncryptContent is DecryptContent's inverse (tests, tools).
func EncryptContent(key, plaintext []byte) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	pt := append([]byte(plaintext[:len(plaintext):len(plaintext)]), make([]byte, n)...)
	for i := len(plaintext); i < len(pt); i++ {
		pt[i] = byte(n)
	}
	cipher.NewCBCEncrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt), nil
}

// VerifyContent checks sign (RSA2, or RSA per signType; "" is RSA2) over
// content with Alipay's public key, or in certificate mode with the
// configured Alipay certificates' keys.
func (c *Client) VerifyContent(content []byte, sign, signType string) error {
	if signType == "" {
		signType = signing.SignTypeRSA2
	}
	if c.Certs == nil {
		if c.AlipayPublicKey == nil {
			return errors.New("no Alipay public key to verify with")
		}
		return signing.AlipayVerify(c.AlipayPublicKey, content, sign, signType)
	}
	keys, err := c.Certs.Keys("")
	if err != nil {
		return err
	}
	return verifyAny(keys, func(k *rsa.PublicKey) error { return signing.AlipayVerify(k, content, sign, signType) })
}
