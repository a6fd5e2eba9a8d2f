package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// WeChat Pay v2 sign_type values.
const (
	SignTypeMD5        = "MD5"
	SignTypeHMACSHA256 = "HMAC-SHA256"
)

// WxpayV2SignString is the string WeChat Pay v2 signs (安全规范): the
// parameters sorted by key in ASCII order, "sign" and empty values left out,
// as k=v joined by &, then "&key=" and the API key.
//
// It contains the key: use it in tests only, never log it.
func WxpayV2SignString(params map[string]string, key string) string {
	return string(appendWxpayV2SignString(nil, params, key))
}

// appendWxpayV2SignString appends the sign string to dst. Signing builds it
// in a byte slice it clears afterwards, so no string holding the key is left
// behind for the garbage collector.
func appendWxpayV2SignString(dst []byte, params map[string]string, key string) []byte {
	keys := make([]string, 0, len(params))
	size := len("key=") + len(key)
	for k, v := range params {
		if k == "sign" || v == "" {
			continue
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	dst = slices.Grow(dst, size)
	for _, k := range keys {
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, params[k]...)
		dst = append(dst, '&')
	}
	dst = append(dst, "key="...)
	return append(dst, key...)
}

// wxpayV2Digest is the raw digest of the v2 sign string.
func wxpayV2Digest(params map[string]string, key, signType string) ([]byte, error) {
	if key == "" {
		// Anyone can compute a signature with an empty key: a missing
		// configuration value must not turn into accepting forgeries.
		return nil, fmt.Errorf("signing: wxpay v2: empty API key: %w", ErrBadKey)
	}
	var h hash.Hash
	switch signType {
	case SignTypeMD5, "":
		h = md5.New()
	case SignTypeHMACSHA256:
		h = hmac.New(sha256.New, []byte(key))
	default:
		return nil, fmt.Errorf("signing: wxpay v2: sign_type %q: %w", printable(signType), ErrUnsupportedSignType)
	}
	buf := appendWxpayV2SignString(nil, params, key)
	h.Write(buf)
	clear(buf)
	return h.Sum(nil), nil
}

// WxpayV2Sign signs params the WeChat Pay v2 way: MD5 of the sign string, or
// HMAC-SHA256 of it keyed with the API key, as uppercase hex. An empty
// signType means MD5 (WeChat Pay's default); any other unknown one is an error.
func WxpayV2Sign(params map[string]string, key, signType string) (string, error) {
	d, err := wxpayV2Digest(params, key, signType)
	if err != nil {
		return "", err
	}
	return strings.ToUpper(hex.EncodeToString(d)), nil
}

// WxpayV2Verify checks params["sign"] against params, with the algorithm
// named by params["sign_type"] (MD5 when absent). The comparison is constant
// time and case-insensitive.
func WxpayV2Verify(params map[string]string, key string) error {
	return WxpayV2VerifyType(params, key, params["sign_type"])
}

// WxpayV2VerifyType is WxpayV2Verify with the algorithm chosen by the caller
// (for example the one configured, or the one a request was sent with, since
// WeChat Pay signs a v2 answer the way the request was signed and answers
// usually carry no sign_type).
func WxpayV2VerifyType(params map[string]string, key, signType string) error {
	got := params["sign"]
	if got == "" {
		return fmt.Errorf("signing: wxpay v2: %w", ErrMissingSignature)
	}
	want, err := wxpayV2Digest(params, key, signType)
	if err != nil {
		return err
	}
	raw, err := hex.DecodeString(got)
	if err != nil || !hmac.Equal(raw, want) {
		return fmt.Errorf("signing: wxpay v2: %w", ErrBadSignature)
	}
	return nil
}

// refundCipher is the AES-256 cipher of req_info, keyed with the lowercase
// hex MD5 of the API key used as 32 ASCII bytes.
func refundCipher(key string) (cipher.Block, error) {
	if key == "" {
		return nil, fmt.Errorf("signing: wxpay refund req_info: empty API key: %w", ErrBadKey)
	}
	sum := md5.Sum([]byte(key))
	var k [32]byte
	hex.Encode(k[:], sum[:])
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("signing: wxpay refund req_info: %w", ErrBadKey)
	}
	return block, nil
}

// DecryptWxpayRefundReqInfo decrypts the req_info of a WeChat Pay v2 refund
// notification: base64, AES-256-ECB keyed with the lowercase hex MD5 of the
// API key, PKCS#7 padding (checked strictly).
func DecryptWxpayRefundReqInfo(reqInfoBase64, key string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(reqInfoBase64))
	if err != nil {
		return nil, fmt.Errorf("signing: wxpay refund req_info: not base64: %w", ErrDecrypt)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("signing: wxpay refund req_info: length %d is not a positive multiple of 16: %w", len(ct), ErrDecrypt)
	}
	block, err := refundCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	pt, ok := pkcs7Unpad(pt, aes.BlockSize)
	if !ok {
		return nil, fmt.Errorf("signing: wxpay refund req_info: bad padding: %w", ErrDecrypt)
	}
	return pt, nil
}

// EncryptWxpayRefundReqInfo is the inverse of DecryptWxpayRefundReqInfo, for
// the emulator and tests.
func EncryptWxpayRefundReqInfo(plaintext []byte, key string) (string, error) {
	block, err := refundCipher(key)
	if err != nil {
		return "", err
	}
	buf := pkcs7Pad(plaintext, aes.BlockSize)
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}
