package emulator

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// phoneInfo is WeChat's phone number record: phone_info of
// getuserphonenumber, and the plaintext of getPhoneNumber's encryptedData.
type phoneInfo struct {
	PhoneNumber     string    `json:"phoneNumber"`
	PurePhoneNumber string    `json:"purePhoneNumber"`
	CountryCode     string    `json:"countryCode"`
	Watermark       watermark `json:"watermark"`
}

type watermark struct {
	Timestamp int64  `json:"timestamp"`
	AppID     string `json:"appid"`
}

func newPhoneInfo(phone, appid string, now time.Time) phoneInfo {
	return phoneInfo{
		PhoneNumber:     phone,
		PurePhoneNumber: phone,
		CountryCode:     "86",
		Watermark:       watermark{Timestamp: now.Unix(), AppID: appid},
	}
}

// phoneNumber is a stable mainland mobile number derived from parts.
func phoneNumber(parts ...string) string {
	return fmt.Sprintf("13%09d", digest(parts...)%1_000_000_000)
}

// EncryptedPhoneData returns what a mini-program's getPhoneNumber button
// gives its page for the user whose session key is sessionKey: the phone
// record {phoneNumber, purePhoneNumber, countryCode, watermark{timestamp,
// appid}} in JSON, AES-128-CBC encrypted with the session key and a random
// iv (PKCS#7 padding), both base64, as WeChat does. The number is derived
// from appid and sessionKey. Also GET /_emulator/weixin/phone?appid=&openid=,
// which uses the session key code2Session issued for that openid.
func (s *Server) EncryptedPhoneData(appid, sessionKey string) (encryptedData, iv string, err error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil || len(key) != 16 {
		return "", "", errors.New("emulator: a session key is 16 bytes in base64")
	}
	block, _ := aes.NewCipher(key)
	plain, _ := json.Marshal(newPhoneInfo(phoneNumber("session", appid, sessionKey), appid, s.now()))
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	ivb := make([]byte, aes.BlockSize)
	rand.Read(ivb)
	cipher.NewCBCEncrypter(block, ivb).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), base64.StdEncoding.EncodeToString(ivb), nil
}

// phoneHook is GET /_emulator/weixin/phone?appid=&openid=:
// {"errcode":0,"errmsg":"ok","encryptedData":…,"iv":…,"phoneNumber":…}
// for a user code2Session has seen; 404 with 40013 or 40003 otherwise.
func (x *weixin) phoneHook(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appid, openid := q.Get("appid"), q.Get("openid")
	if _, ok := x.secretOf(appid); !ok {
		writeJSON(w, http.StatusNotFound, errBody(40013, "invalid appid"))
		return
	}
	sess, ok := x.lookupSession(appid, openid)
	if !ok {
		writeJSON(w, http.StatusNotFound, errBody(40003, "invalid openid"))
		return
	}
	data, iv, err := x.s.EncryptedPhoneData(appid, sess.sessionKey)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errBody(-1, "system error"))
		return
	}
	writeJSON(w, http.StatusOK, okBody(map[string]any{
		"encryptedData": data,
		"iv":            iv,
		"phoneNumber":   phoneNumber("session", appid, sess.sessionKey),
	}))
}

// randomB64 is n random bytes in standard base64 (a session key: 16 → 24 chars).
func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// randomAlnum is n random letters and digits (scheme and URL link tickets).
func randomAlnum(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}
