package emulator

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/signing"
)

// alipay.user.info.share answers for the tokens oauth.token issued to the
// app; an expired one (ExpireAlipayTokens) is aop.auth-token-time-out until
// the refresh token gives a new one; an unknown one aop.invalid-auth-token.
func TestAlipayUserInfoShare(t *testing.T) {
	emu, _, c := newAliEmulator(t, true)
	ctx := context.Background()
	login, err := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "authorization_code", "code": "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	tok := login["access_token"].(string)
	if num, _ := login["expires_in"].(json.Number).Int64(); num != 1296000 {
		t.Errorf("expires_in %v", login["expires_in"])
	}
	info, err := c.Execute(ctx, aliUserInfoShare, nil, map[string]string{"auth_token": tok})
	if err != nil || info["user_id"] != login["user_id"] || info["open_id"] != login["open_id"] || info["nick_name"] == "" || info["city"] == nil {
		t.Fatalf("user info: %v %v", info, err)
	}
	if _, err := c.Execute(ctx, aliUserInfoShare, nil, map[string]string{"auth_token": "authusrBnot-issued"}); !isAliBiz(err, "aop.invalid-auth-token") {
		t.Errorf("unknown token: %v", err)
	}
	if n := emu.ExpireAlipayTokens(aliAppID); n != 1 {
		t.Errorf("expired %d tokens", n)
	}
	if _, err := c.Execute(ctx, aliUserInfoShare, nil, map[string]string{"auth_token": tok}); !isAliBiz(err, "aop.auth-token-time-out") {
		t.Errorf("expired token: %v", err)
	}
	fresh, err := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "refresh_token", "refresh_token": login["refresh_token"].(string)})
	if err != nil || fresh["access_token"] == tok || fresh["open_id"] != login["open_id"] {
		t.Fatalf("refresh: %v %v", fresh, err)
	}
	if _, err := c.Execute(ctx, aliUserInfoShare, nil, map[string]string{"auth_token": fresh["access_token"].(string)}); err != nil {
		t.Errorf("refreshed token: %v", err)
	}
	if _, err := c.Execute(ctx, aliOAuthToken, nil, map[string]string{"grant_type": "refresh_token", "refresh_token": "refresh-never-logged-in"}); !isAliBiz(err, "isv.refresh-token-invalid") {
		t.Errorf("a refresh token never issued: %v", err)
	}
}

// The phone-number hook gives what my.getPhoneNumber gives: the plaintext
// AES-CBC encrypted (zero IV) with the app's key, signed by Alipay's key
// over the ciphertext in double quotes.
func TestAlipayPhoneNumberHook(t *testing.T) {
	_, srv, c := newAliEmulator(t, true)
	const aesKey = "aa4BtZ4tspm2wnXLb1ThQA=="
	resp, err := srv.Client().Post(srv.URL+"/_emulator/alipay/test/phoneNumber", "application/json",
		strings.NewReader(`{"mobile":"13800000000","aes_key":"`+aesKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct{ Response string }
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(out.Response), &msg); err != nil || msg["encrypt_type"] != "AES" || msg["sign_type"] != "RSA2" {
		t.Fatalf("response %q", out.Response)
	}
	if !strings.Contains(out.Response, `"response":"`+msg["response"]+`"`) {
		t.Errorf("the ciphertext is not a plain JSON string: %s", out.Response)
	}
	if err := signing.AlipayVerify(c.AlipayPublicKey, []byte(`"`+msg["response"]+`"`), msg["sign"], "RSA2"); err != nil {
		t.Errorf("sign over the quoted ciphertext: %v", err)
	}
	key, _ := base64.StdEncoding.DecodeString(aesKey)
	ct, _ := base64.StdEncoding.DecodeString(msg["response"])
	block, _ := aes.NewCipher(key)
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, make([]byte, 16)).CryptBlocks(pt, ct)
	pt = pt[:len(pt)-int(pt[len(pt)-1])]
	if !bytes.Equal(pt, []byte(`{"code":"10000","mobile":"13800000000","msg":"Success"}`)) {
		t.Errorf("plaintext %s", pt)
	}
	for _, bad := range []string{`{}`, `{"mobile":"1","aes_key":"c2hvcnQ="}`, `{"mobile":"1"}`, `{"mobile":"1","app_id":"nope","aes_key":"` + aesKey + `"}`} {
		resp, err := srv.Client().Post(srv.URL+"/_emulator/alipay/test/phoneNumber", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}
