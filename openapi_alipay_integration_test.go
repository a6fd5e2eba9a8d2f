package unicloud

import (
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

func TestOpenAPIAlipayCode2Session(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	_, ali, wxURL, aliURL := payStartFakes(t)
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, ""))
	for _, p := range []string{"/ali/auth/code2Session", "/ali/auth.code2Session", "/ali/auth/getOpenid"} {
		status, m := payPost(t, "http://"+addr+p, `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["errMsg"] != "ok" || m["openid"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" ||
			m["userId"] != "2088102150477652" || m["accessToken"] != "20120823ac6ffaa4d2d84e7384bf983531473993" || num(m["expiresIn"]) != 3600 {
			t.Errorf("%s: %d %v", p, status, m)
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
	ali.tamper = true
	defer func() { ali.tamper = false }()
	status, m = payPost(t, "http://"+addr+"/ali/auth/code2Session", `{"code":"4b203fe6c11548bcabd8da5bb087a83b"}`)
	if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["openid"] != nil || m["userId"] != nil {
		t.Errorf("tampered answer: %d %v", status, m)
	}
}
