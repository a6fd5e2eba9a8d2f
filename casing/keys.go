// Package casing converts JSON keys between the callers' camelCase and the providers' snake_case, both ways and
// recursively, keeping the providers' own spellings (appid, touser, errcode) that a plain rule would get wrong.
package casing

// spellings lists the keys a provider spells its own way, one row each: add a spelling here, in one line.
//
// camel is the caller's key, provider the provider's. back says whether CamelKey turns the provider's spelling back
// into camel: appid, errcode, errmsg and mch_id do (uniCloud answers say appId, errCode, errMsg, mchId). The other
// rows are one way: WeChat's answers and the uniCloud docs say openid and unionid, and touser, pagepath and msgtype
// only ever go out, so CamelKey leaves those lowercase and a caller gets "openid" the way the seeds document it.
//
// SnakeKey matches a row after its plain conversion, so "appId", "AppId" and "appID" all give "appid"; a key the
// caller already wrote in snake_case or lowercase ("app_id") is never looked up.
//
// lower says that callers write the provider's spelling itself (the seeds document openid and unionid that way),
// so CallerKey names it lowercase; the other one-way rows are named by their camel key (toUser).
var spellings = []struct {
	camel, provider string
	back, lower     bool
}{
	{"appId", "appid", true, false},
	{"mchId", "mch_id", true, false},
	{"errCode", "errcode", true, false},
	{"errMsg", "errmsg", true, false},
	{"openId", "openid", false, true},
	{"unionId", "unionid", false, true},
	{"toUser", "touser", false, false},
	{"pagePath", "pagepath", false, false},
	{"msgType", "msgtype", false, false},
}

var (
	// toProvider maps the plain snake_case of a row's camel key to the provider's spelling.
	toProvider = make(map[string]string, len(spellings))
	// named maps the provider spelling of a one-way row to the key callers write (CallerKey).
	named = make(map[string]string, len(spellings))
	// toCaller maps a provider spelling to the caller's, for the rows that go back.
	toCaller = make(map[string]string, len(spellings))
	// callerLens and callerFirst let CamelKey skip the toCaller lookup for almost every key.
	callerLens  uint64
	callerFirst [256]bool
)

func init() {
	for _, s := range spellings {
		toProvider[string(appendSnakeWords(nil, s.camel))] = s.provider
		if !s.back && !s.lower {
			named[s.provider] = s.camel
		}
		if s.back {
			toCaller[s.provider] = s.camel
			if len(s.provider) < 64 {
				callerLens |= 1 << len(s.provider)
			}
			callerFirst[s.provider[0]] = true
		}
	}
}

// text lets the key functions work on a key as a string (SnakeKey, CamelKey) or as bytes inside a JSON document
// (SnakeJSON, CamelJSON) without copying it.
type text interface{ ~string | ~[]byte }

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }

// SnakeKey converts one caller key to the provider's spelling: "jsCode" → "js_code", "outTradeNo" → "out_trade_no",
// with the provider's own spellings from one table ("appId" → "appid", "toUser" → "touser", "errCode" → "errcode",
// "mchId" → "mch_id"). A key without an ASCII capital letter ("openid", "access_token", "_id") is returned as is.
//
// Each capital letter starts a word, except inside a run of capitals, which is one word (an acronym) up to the
// capital that starts the next lowercase word: "userID" → "user_id", "URLLink" → "url_link", "code2Session" →
// "code2_session", "AppId" → "appid". No underscore is added at the start or after an underscore or a non-ASCII
// byte ("_Id" → "_id", "some_Key" → "some_key"); non-ASCII bytes are kept as they are.
func SnakeKey(k string) string {
	if !snakeChanges(k) {
		return k
	}
	return string(appendSnake(make([]byte, 0, len(k)+4), k))
}

// CamelKey converts one provider key to the caller's spelling: "session_key" → "sessionKey", "ref_date" → "refDate",
// with the provider spellings that go back from one table ("appid" → "appId", "errcode" → "errCode", "errmsg" →
// "errMsg", "mch_id" → "mchId"). Other keys without an underscore are returned as is ("openid", "unionid", "touser").
//
// An underscore is dropped, and the letter after it capitalised, only when it stands between an ASCII letter or
// digit and a lowercase ASCII letter. Every other underscore is kept: leading ("_id", "__v"), trailing ("key_"),
// doubled ("a__b"), before a digit ("coupon_fee_0" → "couponFee_0") or before a capital. So CamelKey loses nothing
// and SnakeKey gives the provider's key back, except for the one-way table rows and for runs of one-letter words
// ("a_b_c" → "aBC" → "a_bc", read back as an acronym).
func CamelKey(k string) string {
	if !camelChanges(k) {
		return k
	}
	return string(appendCamel(make([]byte, 0, len(k)), k))
}

// CallerKey is the caller's spelling of a provider key, for messages that name a parameter: CamelKey, except that
// the one-way rows callers write in camelCase are named that way ("touser" → "toUser", "template_id" →
// "templateId", "openid" → "openid").
func CallerKey(k string) string {
	if c, ok := named[k]; ok {
		return c
	}
	return CamelKey(k)
}

// snakeChanges reports whether SnakeKey(k) != k.
func snakeChanges[T text](k T) bool {
	for i := 0; i < len(k); i++ {
		if isUpper(k[i]) {
			return true
		}
	}
	return false
}

// appendSnake appends SnakeKey(k) to dst; k must contain a capital letter (snakeChanges).
func appendSnake[T text](dst []byte, k T) []byte {
	start := len(dst)
	dst = appendSnakeWords(dst, k)
	if p, ok := toProvider[string(dst[start:])]; ok {
		dst = append(dst[:start], p...)
	}
	return dst
}

// appendSnakeWords appends the plain snake_case of k, without the provider table.
func appendSnakeWords[T text](dst []byte, k T) []byte {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !isUpper(c) {
			dst = append(dst, c)
			continue
		}
		if i > 0 {
			p := k[i-1]
			if isLower(p) || isDigit(p) || (isUpper(p) && i+1 < len(k) && isLower(k[i+1])) {
				dst = append(dst, '_')
			}
		}
		dst = append(dst, c+('a'-'A'))
	}
	return dst
}

// callerSpelling returns the toCaller row for k, if any, without hashing keys that cannot be in it.
func callerSpelling[T text](k T) (string, bool) {
	if len(k) == 0 || len(k) >= 64 || callerLens&(1<<len(k)) == 0 || !callerFirst[k[0]] {
		return "", false
	}
	c, ok := toCaller[string(k)]
	return c, ok
}

// camelBreak reports whether the underscore at k[i] is dropped by CamelKey.
func camelBreak[T text](k T, i int) bool {
	return k[i] == '_' && i > 0 && i+1 < len(k) && isAlnum(k[i-1]) && isLower(k[i+1])
}

// camelChanges reports whether CamelKey(k) != k.
func camelChanges[T text](k T) bool {
	if _, ok := callerSpelling(k); ok {
		return true
	}
	for i := 1; i+1 < len(k); i++ {
		if camelBreak(k, i) {
			return true
		}
	}
	return false
}

// appendCamel appends CamelKey(k) to dst.
func appendCamel[T text](dst []byte, k T) []byte {
	if c, ok := callerSpelling(k); ok {
		return append(dst, c...)
	}
	for i := 0; i < len(k); i++ {
		if camelBreak(k, i) {
			dst = append(dst, k[i+1]-('a'-'A'))
			i++
			continue
		}
		dst = append(dst, k[i])
	}
	return dst
}
