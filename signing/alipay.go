package signing

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Alipay sign_type values.
const (
	SignTypeRSA2 = "RSA2" // SHA256withRSA
	SignTypeRSA  = "RSA"  // SHA1withRSA
)

// AlipaySignContent is the string Alipay signs for a set of (already
// URL-decoded) parameters: "sign" dropped, "sign_type" dropped unless
// keepSignType, empty values dropped, keys sorted by byte order, k=v joined
// by &.
func AlipaySignContent(params map[string]string, keepSignType bool) string {
	keys := make([]string, 0, len(params))
	size := 0
	for k, v := range params {
		if v == "" || k == "sign" || (k == "sign_type" && !keepSignType) {
			continue
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

func alipayHash(signType string) (crypto.Hash, error) {
	switch signType {
	case SignTypeRSA2, "":
		return crypto.SHA256, nil
	case SignTypeRSA:
		return crypto.SHA1, nil
	}
	return 0, fmt.Errorf("signing: alipay: sign_type %q: %w", printable(signType), ErrUnsupportedSignType)
}

// AlipaySign signs content with the app private key: "RSA2" (or "") is
// SHA256withRSA, "RSA" is SHA1withRSA; the result is base64.
func AlipaySign(key *rsa.PrivateKey, content []byte, signType string) (string, error) {
	h, err := alipayHash(signType)
	if err != nil {
		return "", err
	}
	return rsaSign(key, h, content)
}

// AlipayVerify checks an Alipay signature (base64) of content with the
// Alipay public key, "RSA2" (or "") or "RSA" as in AlipaySign.
func AlipayVerify(pub *rsa.PublicKey, content []byte, signBase64, signType string) error {
	h, err := alipayHash(signType)
	if err != nil {
		return err
	}
	err = rsaVerify(pub, h, content, signBase64)
	if err != nil && errors.Is(err, ErrBadSignature) && strings.ContainsRune(signBase64, ' ') {
		// A form decoder that was handed an unescaped '+' made it a space.
		err = rsaVerify(pub, h, content, strings.ReplaceAll(signBase64, " ", "+"))
	}
	if err != nil {
		return fmt.Errorf("signing: alipay verify: %w", err)
	}
	return nil
}

// AlipayVerifyParams checks an Alipay asynchronous notification given as its
// URL-decoded form fields. The algorithm is params["sign_type"] (RSA2 when
// absent). The string checked first drops sign and sign_type; when that
// fails and sign_type is present, the string keeping sign_type is tried, as
// some notification types (servicemarket) are signed that way.
func AlipayVerifyParams(pub *rsa.PublicKey, params map[string]string) error {
	sign := params["sign"]
	if sign == "" {
		return fmt.Errorf("signing: alipay verify: %w", ErrMissingSignature)
	}
	signType := params["sign_type"]
	if _, err := alipayHash(signType); err != nil {
		return err
	}
	err := AlipayVerify(pub, []byte(AlipaySignContent(params, false)), sign, signType)
	if err == nil || signType == "" || !errors.Is(err, ErrBadSignature) {
		return err
	}
	return AlipayVerify(pub, []byte(AlipaySignContent(params, true)), sign, signType)
}
