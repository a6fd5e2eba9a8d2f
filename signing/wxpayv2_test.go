package signing

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestWxpayV2SignVector(t *testing.T) {
	v := loadVectors(t).WxpayV2Sign
	if got := WxpayV2SignString(v.Params, v.Key); got != v.StringSignTemp {
		t.Fatalf("sign string differs from the published stringSignTemp")
	}
	for _, c := range []struct{ signType, want string }{
		{SignTypeMD5, v.MD5},
		{"", v.MD5},
		{SignTypeHMACSHA256, v.HMACSHA256},
	} {
		got, err := WxpayV2Sign(v.Params, v.Key, c.signType)
		if err != nil {
			t.Fatalf("%q: %v", c.signType, err)
		}
		if got != c.want {
			t.Fatalf("%q: got %s, want %s", c.signType, got, c.want)
		}
	}
	if _, err := WxpayV2Sign(v.Params, "", SignTypeMD5); !errors.Is(err, ErrBadKey) {
		t.Fatalf("empty key: %v", err)
	}
	if _, err := WxpayV2Sign(v.Params, v.Key, "SHA1"); !errors.Is(err, ErrUnsupportedSignType) {
		t.Fatalf("unknown sign type: %v", err)
	}
}

func TestWxpayV2SignStringSkips(t *testing.T) {
	p := map[string]string{"b": "2", "a": "1", "sign": "XYZ", "empty": "", "B": "upper", "sign_type": "MD5"}
	if got, want := WxpayV2SignString(p, "k"), "B=upper&a=1&b=2&sign_type=MD5&key=k"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := WxpayV2SignString(nil, "k"); got != "key=k" {
		t.Fatalf("empty params: %q", got)
	}
}

func TestWxpayV2Verify(t *testing.T) {
	v := loadVectors(t).WxpayV2Sign
	withSign := func(sign, signType string) map[string]string {
		p := cloneParams(v.Params)
		p["sign"] = sign
		if signType != "" {
			p["sign_type"] = signType
		}
		return p
	}
	hmacParams := withSign("", SignTypeHMACSHA256)
	hmacSign, _ := WxpayV2Sign(hmacParams, v.Key, SignTypeHMACSHA256) // sign_type is signed too
	md5Sign, _ := WxpayV2Sign(withSign("", SignTypeMD5), v.Key, SignTypeMD5)
	good := map[string]map[string]string{
		"MD5 default":       withSign(v.MD5, ""),
		"MD5 explicit":      withSign(md5Sign, SignTypeMD5),
		"MD5 lowercase hex": withSign(strings.ToLower(v.MD5), ""),
		"HMAC-SHA256":       withSign(hmacSign, SignTypeHMACSHA256),
		"HMAC-SHA256 lower": withSign(strings.ToLower(hmacSign), SignTypeHMACSHA256),
		"empty field added": func() map[string]string { p := withSign(v.MD5, ""); p["attach"] = ""; return p }(),
	}
	for name, p := range good {
		if err := WxpayV2Verify(p, v.Key); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The published HMAC vector signs the params without a sign_type field.
	if err := WxpayV2VerifyType(withSign(v.HMACSHA256, ""), v.Key, SignTypeHMACSHA256); err != nil {
		t.Errorf("published HMAC vector with the type given: %v", err)
	}

	// What anyone can compute when the configured key is empty.
	emptySum := md5.Sum([]byte(WxpayV2SignString(v.Params, "")))
	forgedEmptyKey := strings.ToUpper(hex.EncodeToString(emptySum[:]))
	changed := withSign(v.MD5, "")
	changed["body"] = "tesT"
	added := withSign(v.MD5, "")
	added["attach"] = "x"
	oneByte := []byte(v.MD5)
	oneByte[5] ^= 1
	bad := []struct {
		name   string
		params map[string]string
		key    string
		want   error
	}{
		{"field changed", changed, v.Key, ErrBadSignature},
		{"field added", added, v.Key, ErrBadSignature},
		{"wrong key", withSign(v.MD5, ""), v.Key + "x", ErrBadSignature},
		{"sign one bit", withSign(string(oneByte), ""), v.Key, ErrBadSignature},
		{"sign truncated", withSign(v.MD5[:30], ""), v.Key, ErrBadSignature},
		{"sign not hex", withSign("ZZ"+v.MD5[2:], ""), v.Key, ErrBadSignature},
		{"MD5 sign claimed HMAC", withSign(md5Sign, SignTypeHMACSHA256), v.Key, ErrBadSignature},
		{"sign_type added to a signed set", withSign(v.MD5, SignTypeMD5), v.Key, ErrBadSignature},
		{"HMAC published sign claimed MD5", withSign(v.HMACSHA256, SignTypeMD5), v.Key, ErrBadSignature},
		{"missing sign", cloneParams(v.Params), v.Key, ErrMissingSignature},
		{"empty sign", withSign("", ""), v.Key, ErrMissingSignature},
		{"unknown sign type", withSign(v.MD5, "SHA512"), v.Key, ErrUnsupportedSignType},
		{"empty key (forgeable)", withSign(forgedEmptyKey, ""), "", ErrBadKey},
	}
	for _, c := range bad {
		err := WxpayV2Verify(c.params, c.key)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), v.Key) || strings.Contains(err.Error(), "key=") {
			t.Errorf("%s: error message leaks the key or the signed string", c.name)
		}
	}
}

func TestDecryptWxpayRefundReqInfoVector(t *testing.T) {
	v := loadVectors(t).WxpayV2RefundReqInfo
	pt, err := DecryptWxpayRefundReqInfo(v.ReqInfo, v.Key)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != v.Plaintext {
		t.Fatalf("plaintext differs:\n%s", pt)
	}
	// ECB is deterministic: encrypting gives the published req_info back.
	ct, err := EncryptWxpayRefundReqInfo(pt, v.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ct != v.ReqInfo {
		t.Fatal("re-encryption differs from the published req_info")
	}
}

func TestDecryptWxpayRefundReqInfoErrors(t *testing.T) {
	v := loadVectors(t).WxpayV2RefundReqInfo
	raw, _ := base64.StdEncoding.DecodeString(v.ReqInfo)
	enc := base64.StdEncoding.EncodeToString
	// Block-aligned plaintexts whose last block decrypts to bad padding.
	padCase := func(last []byte) string {
		s, err := EncryptWxpayRefundReqInfo(append([]byte("0123456789abcdef"), last...), v.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(s)
		return enc(b[:32]) // drop the full padding block added by Encrypt
	}
	cases := map[string]struct{ reqInfo, key string }{
		"wrong key":            {v.ReqInfo, v.Key + "x"},
		"truncated one block":  {enc(raw[:len(raw)-16]), v.Key},
		"truncated one byte":   {enc(raw[:len(raw)-1]), v.Key},
		"empty":                {"", v.Key},
		"not base64":           {"!!!!" + v.ReqInfo, v.Key},
		"pad byte 0":           {padCase([]byte("0123456789abcde\x00")), v.Key},
		"pad byte 17":          {padCase([]byte("0123456789abcde\x11")), v.Key},
		"pad bytes unequal":    {padCase([]byte("0123456789abc\x02\x03\x03")), v.Key},
		"pad 16 one different": {padCase([]byte("\x10\x10\x10\x10\x10\x10\x10\x11\x10\x10\x10\x10\x10\x10\x10\x10")), v.Key},
	}
	for name, c := range cases {
		pt, err := DecryptWxpayRefundReqInfo(c.reqInfo, c.key)
		if !errors.Is(err, ErrDecrypt) || pt != nil {
			t.Errorf("%s: err = %v", name, err)
			continue
		}
		if strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: error leaks the key", name)
		}
	}
	if _, err := DecryptWxpayRefundReqInfo(v.ReqInfo, ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("empty key: %v", err)
	}
	if _, err := EncryptWxpayRefundReqInfo([]byte("x"), ""); !errors.Is(err, ErrBadKey) {
		t.Errorf("encrypt with empty key: %v", err)
	}
	// Sanity: the padCase helper builds valid ciphertexts for valid padding.
	if _, err := DecryptWxpayRefundReqInfo(padCase([]byte("0123456789abc\x03\x03\x03")), v.Key); err != nil {
		t.Fatalf("valid padding refused: %v", err)
	}
	if _, err := DecryptWxpayRefundReqInfo(padCase([]byte("\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10\x10")), v.Key); err != nil {
		t.Fatalf("full padding block refused: %v", err)
	}
}

func TestPKCS7(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for _, bs := range []int{16, 32} {
			data := []byte(strings.Repeat("x", n))
			p := pkcs7Pad(data, bs)
			if len(p)%bs != 0 || len(p) <= n {
				t.Fatalf("pad %d/%d: len %d", n, bs, len(p))
			}
			got, ok := pkcs7Unpad(p, bs)
			if !ok || string(got) != string(data) {
				t.Fatalf("unpad %d/%d", n, bs)
			}
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 15), make([]byte, 16), append(make([]byte, 15), 17)} {
		if _, ok := pkcs7Unpad(bad, 16); ok {
			t.Fatalf("accepted %x", bad)
		}
	}
}
