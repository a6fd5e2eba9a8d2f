package unicloud

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func TestOpenAPIAlipayCode2Session(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	_, ali, wxURL, aliURL := payStartFakes(t)
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, ""))
	var openid, userID string
	for _, p := range []string{"/ali/auth/code2Session", "/ali/auth.code2Session", "/ali/auth/getOpenid"} {
		status, m := payPost(t, "http://"+addr+p, `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
		if openid == "" {
			openid, _ = m["openid"].(string)
			userID, _ = m["userId"].(string)
		}
		// The same user each time: the emulator derives it from the code.
		if status != 200 || num(m["errCode"]) != 0 || m["errMsg"] != "ok" || !strings.HasPrefix(openid, "074") || m["openid"] != openid ||
			!strings.HasPrefix(userID, "2088") || m["userId"] != userID || num(m["expiresIn"]) != 1296000 {
			t.Errorf("%s: %d %v", p, status, m)
		}
		// The auth token stays with the gateway (expose_auth_token answers it).
		if _, ok := m["accessToken"]; ok || m["refreshToken"] != nil {
			t.Errorf("%s: a token in the answer: %v", p, m)
		}
		if _, ok := m["openId"]; ok {
			t.Errorf("%s: openId next to openid: %v", p, m)
		}
	}
	form := ali.lastForm(alipay.MethodOAuthToken)
	if form.Get("grant_type") != "authorization_code" || form.Get("code") != "4b203fe6c11548bcabd8da5bb087a83b" || form.Get("app_id") != payAliAppID {
		t.Errorf("request %v", form)
	}
	status, m := payPost(t, "http://"+addr+"/ali/auth/code2Session", `{"code":"bad-code"}`)
	if status != 200 || m["errCode"] != "isv.code-invalid" || m["errMsg"] != "授权码code无效" {
		t.Errorf("bad code: %d %v", status, m)
	}
	status, m = payPost(t, "http://"+addr+"/ali/auth/code2Session", `{}`)
	if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" {
		t.Errorf("no code: %d %v", status, m)
	}
	status, m = payPost(t, "http://"+addr+"/ali/wxacode/get", `{}`)
	if status != 404 || m["errCode"] != "UNICLOUD_API_NOT_FOUND" {
		t.Errorf("unknown API: %d %v", status, m)
	}
	ali.tamper.Store(true)
	defer ali.tamper.Store(false)
	status, m = payPost(t, "http://"+addr+"/ali/auth/code2Session", `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
	if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["openid"] != nil || m["userId"] != nil {
		t.Errorf("tampered answer: %d %v", status, m)
	}
}

// The allow list restricts Alipay's APIs as it does WeChat's: an API that no
// pattern names is refused (403) before Alipay is called, and a pattern that
// names an alias allows the API under every name.
func TestOpenAPIAlipayAllow(t *testing.T) {
	_, ali, _, aliURL := payStartFakes(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app_private_key.pem")
	if err := os.WriteFile(keyFile, []byte(payKeys.appPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	block := func(allow string) string {
		return fmt.Sprintf(`unicloud_openapi alipay {
			app_id %s
			private_key {file.%s}
			alipay_public_key %s
			endpoint %s
			allow %s
		}`, payAliAppID, keyFile, payKeys.aliPubB64, aliURL, allow)
	}
	addr := freeAddr(t)
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://%s {
	handle_path /closed/* {
		%s
	}
	handle_path /alias/* {
		%s
	}
}
`, addr, block("phoneNumber.* urllink.generate"), block("auth.getOpenid")))
	base := "http://" + addr
	for _, p := range []string{"/closed/auth/code2Session", "/closed/auth/getOpenid"} {
		status, m := payPost(t, base+p, `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
		if status != 403 || m["errCode"] != "UNICLOUD_API_NOT_ALLOWED" || m["errMsg"] != "API not allowed: auth.code2Session" {
			t.Errorf("%s: %d %v", p, status, m)
		}
	}
	if form := ali.lastForm(alipay.MethodOAuthToken); form != nil {
		t.Fatalf("a refused call reached Alipay: %v", form)
	}
	for _, p := range []string{"/alias/auth/getOpenid", "/alias/auth/code2Session"} {
		status, m := payPost(t, base+p, `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["openid"] == nil {
			t.Errorf("%s: %d %v", p, status, m)
		}
	}
}
