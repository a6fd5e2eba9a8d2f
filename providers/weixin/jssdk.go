package weixin

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// JSSDKSignature is the signature of wx.config (JS-SDK 附录1): the
// lowercase hex SHA-1 of
// "jsapi_ticket=<ticket>&noncestr=<nonce>&timestamp=<ts>&url=<url>", the
// values as given (pageURL already without its fragment: see JSSDKURL).
func JSSDKSignature(ticket, nonce string, timestamp int64, pageURL string) string {
	var ts [20]byte
	tsb := strconv.AppendInt(ts[:0], timestamp, 10)
	buf := make([]byte, 0, 64+len(ticket)+len(nonce)+len(pageURL))
	buf = append(buf, "jsapi_ticket="...)
	buf = append(buf, ticket...)
	buf = append(buf, "&noncestr="...)
	buf = append(buf, nonce...)
	buf = append(buf, "&timestamp="...)
	buf = append(buf, tsb...)
	buf = append(buf, "&url="...)
	buf = append(buf, pageURL...)
	sum := sha1.Sum(buf)
	return hex.EncodeToString(sum[:])
}

// ErrJSSDKURL: the page URL is not an absolute http(s) URL with a host.
var ErrJSSDKURL = errors.New("url must be the absolute http(s) URL of the page (location.href)")

// JSSDKURL is the URL wx.config signs for the page at raw: everything from
// the first '#' cut off, otherwise exactly as given (no decoding,
// re-encoding or normalising). raw must be an absolute http or https URL
// with a host.
func JSSDKURL(raw string) (string, error) {
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", ErrJSSDKURL
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "", ErrJSSDKURL
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return "", ErrJSSDKURL
	}
	return raw, nil
}

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewNonce is a nonceStr for wx.config: 16 random letters and digits.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		// 256 = 4*62 + 8: the bias (8 of 256) does not matter for a
		// nonce, which only has to differ per call.
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b[:])
}
