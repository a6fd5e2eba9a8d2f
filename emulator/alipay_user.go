package emulator

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// The member side of the emulated Alipay gateway: the auth tokens
// alipay.system.oauth.token issues, alipay.user.info.share for them, and
// the my.getPhoneNumber response a mini-program would get.

const aliUserInfoShare = "alipay.user.info.share"

// aliTokenTTL is the auth token's life (expires_in), as Alipay's 15 days.
const aliTokenTTL = 1296000 * time.Second

// maxAliTokens bounds the issued tokens kept.
const maxAliTokens = 100000

type aliToken struct {
	appID, user string
	expires     time.Time
}

// aliUser is the user_id and open_id of a test user of appID.
func aliUser(appID, user string) (userID, openID string) {
	return "2088" + strconv.FormatUint(1e11+digest(appID, "user", user)%9e11, 10), "074" + randomB64URLFrom(digest(appID, "open", user), 44)
}

// issueToken issues an auth token for user of appID.
func (x *alipayEmu) issueToken(appID, user string) string {
	tok := "authusrB" + randomAlnum(32)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tokens == nil || len(x.tokens) >= maxAliTokens {
		x.tokens = map[string]*aliToken{}
	}
	x.tokens[tok] = &aliToken{appID: appID, user: user, expires: x.s.now().Add(aliTokenTTL)}
	return tok
}

// refreshable tells whether a refresh token was issued by a login of
// appID (refresh-<code>, for a code the emulator accepted).
func (x *alipayEmu) refreshable(appID, refreshToken string) bool {
	user := strings.TrimPrefix(refreshToken, "refresh-")
	if user == refreshToken || user == "" {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range x.tokens {
		if t.appID == appID && t.user == user {
			return true
		}
	}
	return false
}

// ExpireAlipayTokens makes every auth token issued to appID (every app when
// empty) expired: alipay.user.info.share then answers
// aop.auth-token-time-out, and the refresh token gives a new one.
// Also POST /_emulator/alipay/expire_tokens?app_id=….
func (s *Server) ExpireAlipayTokens(appID string) int {
	x := s.alipay()
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, t := range x.tokens {
		if appID == "" || t.appID == appID {
			t.expires = time.Time{}
			n++
		}
	}
	return n
}

func (x *alipayEmu) expireTokensHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "POST"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"expired": x.s.ExpireAlipayTokens(r.URL.Query().Get("app_id"))})
}

// userInfoShare answers alipay.user.info.share for a token the emulator
// issued to the calling app.
func (x *alipayEmu) userInfoShare(c *aliCall) {
	tok := c.params["auth_token"]
	x.mu.Lock()
	t := x.tokens[tok]
	var expired bool
	if t != nil {
		expired = !x.s.now().Before(t.expires)
	}
	x.mu.Unlock()
	switch {
	case tok == "":
		c.refuse("40001", "Missing Required Arguments", "isv.missing-auth-token", "缺少访问令牌参数")
		return
	case t == nil || t.appID != c.app.id:
		c.answer(aliResponseKey(c.method), map[string]any{"code": "20001", "msg": "Insufficient Token Permissions", "sub_code": "aop.invalid-auth-token", "sub_msg": "无效的访问令牌"})
		return
	case expired:
		c.answer(aliResponseKey(c.method), map[string]any{"code": "20001", "msg": "Insufficient Token Permissions", "sub_code": "aop.auth-token-time-out", "sub_msg": "访问令牌已过期"})
		return
	}
	userID, openID := aliUser(t.appID, t.user)
	gender := "F"
	if digest(t.appID, "gender", t.user)%2 == 0 {
		gender = "M"
	}
	c.ok(map[string]any{
		"user_id": userID, "open_id": openID, "nick_name": "测试用户" + userID[len(userID)-4:],
		"avatar": "https://tfs.alipayobjects.com/images/partner/emulator-" + userID[len(userID)-6:],
		"gender": gender, "province": "浙江省", "city": "杭州市",
	})
}

// AlipayPhoneNumber is the response my.getPhoneNumber gives appID's
// mini-program for mobile: the plaintext
// {"code":"10000","msg":"Success","mobile":…} AES-128-CBC encrypted with
// aesKey (base64 of 16 bytes; zero IV, PKCS#5) and signed RSA2 by the
// emulator's Alipay key over the ciphertext in double quotes, as the whole
// JSON text (res.response).
// Also POST /_emulator/alipay/test/phoneNumber {"app_id","mobile","aes_key"}.
func (s *Server) AlipayPhoneNumber(appID, mobile, aesKey string) (string, error) {
	x := s.alipay()
	app, ok := x.apps[appID]
	if !ok {
		return "", errors.New("emulator: no such Alipay app")
	}
	if app.err != nil {
		return "", app.err
	}
	if aesKey == "" {
		aesKey = app.aesKey
	}
	key, err := base64.StdEncoding.DecodeString(aesKey)
	if err != nil || len(key) != 16 {
		return "", errors.New("emulator: aes_key must be the base64 of 16 bytes (the gateway's aes_key)")
	}
	plain, _ := json.Marshal(map[string]string{"code": "10000", "msg": "Success", "mobile": mobile})
	ct := aliEncrypt(key, plain)
	sign, err := signing.AlipaySign(app.key, []byte(`"`+ct+`"`), signing.SignTypeRSA2)
	if err != nil {
		return "", err
	}
	msg, _ := json.Marshal(map[string]string{"response": ct, "sign": sign, "sign_type": "RSA2", "encrypt_type": "AES", "charset": "UTF-8"})
	return string(msg), nil
}

// aliEncrypt is Alipay's content encryption: AES-CBC, IV of zeros, PKCS#5
// padding, base64.
func aliEncrypt(key, plain []byte) string {
	block, _ := aes.NewCipher(key)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

func (x *alipayEmu) phoneNumberHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "POST"))
		return
	}
	var in struct {
		AppID  string `json:"app_id"`
		Mobile string `json:"mobile"`
		AESKey string `json:"aes_key"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil || in.Mobile == "" {
		writeJSON(w, http.StatusBadRequest, errBody(-1, `a JSON body {"mobile": …, "app_id"?: …, "aes_key"?: …} is required`))
		return
	}
	if in.AppID == "" && len(x.apps) == 1 {
		for id := range x.apps {
			in.AppID = id
		}
	}
	msg, err := x.s.AlipayPhoneNumber(in.AppID, in.Mobile, in.AESKey)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errBody(-1, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"response": msg})
}
