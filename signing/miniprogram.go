package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
)

// DecryptMiniProgramData decrypts a mini-program encryptedData (getUserInfo,
// getPhoneNumber, ...): base64 sessionKey (16 bytes), base64 iv (16 bytes),
// base64 encryptedData, AES-128-CBC with PKCS#7 padding (checked). The
// caller checks the plaintext's watermark.appid.
func DecryptMiniProgramData(sessionKey, iv, encryptedData string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil || len(key) != 16 {
		return nil, fmt.Errorf("signing: mini-program data: session_key is not 16 bytes of base64: %w", ErrBadKey)
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil || len(ivb) != aes.BlockSize {
		return nil, fmt.Errorf("signing: mini-program data: iv is not 16 bytes of base64: %w", ErrDecrypt)
	}
	ct, err := base64.StdEncoding.DecodeString(encryptedData)
	if err != nil {
		return nil, fmt.Errorf("signing: mini-program data: encryptedData is not base64: %w", ErrDecrypt)
	}
	pt, err := cbcDecrypt(key, ivb, ct, aes.BlockSize)
	if err != nil {
		return nil, fmt.Errorf("signing: mini-program data: %w", err)
	}
	return pt, nil
}

// cbcDecrypt decrypts AES-CBC and strips PKCS#7 padding of padBlock bytes
// (16 for mini-programs, 32 for WXBizMsgCrypt).
func cbcDecrypt(key, iv, ct []byte, padBlock int) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrBadKey
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("ciphertext length %d is not a positive multiple of 16: %w", len(ct), ErrDecrypt)
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	out, ok := pkcs7Unpad(pt, padBlock)
	if !ok {
		return nil, fmt.Errorf("bad padding: %w", ErrDecrypt)
	}
	return out, nil
}

func cbcEncrypt(key, iv, pt []byte, padBlock int) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrBadKey
	}
	buf := pkcs7Pad(pt, padBlock)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, nil
}
