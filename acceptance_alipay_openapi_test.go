package unicloud

// Acceptance checks of unicloud_openapi alipay (code2Session, getUserInfo,
// decrypt.getPhoneNumber), Alipay's pay URLs and certificate-mode
// notifications.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestAcceptanceAlipayAuthAndUserInfo(t *testing.T) {
	a := qaStartAlipay(t)
	status, m, raw := qaPost(t, a.base+"/ali/auth/code2Session", `{"code":"qa-member"}`)
	if !qaWant(t, "code2Session", status, m, raw, 200, 0) {
		return
	}
	openid := qaStr(m, "openid")
	if m["errMsg"] != "ok" || openid == "" || m["expiresIn"] == nil || m["authStart"] == nil {
		t.Errorf("code2Session answer %s", raw)
	}
	for _, k := range []string{"accessToken", "refreshToken", "authToken", "access_token", "refresh_token"} {
		if _, ok := m[k]; ok {
			t.Errorf("code2Session answers %s without expose_auth_token: %s", k, raw)
		}
	}
	login := a.proxy.alipayCalls("alipay.system.oauth.token")[0]
	token := qaJSONField(login.RespBody, "alipay_system_oauth_token_response", "access_token")
	refresh := qaJSONField(login.RespBody, "alipay_system_oauth_token_response", "refresh_token")
	if token == "" || refresh == "" {
		t.Fatalf("the emulator gave no tokens: %s", login.RespBody)
	}
	qaNoneOf(t, "code2Session answer", raw, token, refresh)

	status, m, raw = qaPost(t, a.base+"/ali/auth/getUserInfo", `{"openid":"`+openid+`"}`)
	if qaWant(t, "getUserInfo", status, m, raw, 200, 0) {
		for _, k := range []string{"nickName", "avatar", "gender", "province", "city"} {
			if _, ok := m[k]; !ok {
				t.Errorf("getUserInfo has no %s: %s", k, raw)
			}
		}
		if qaStr(m, "openid") != openid || m["openId"] != nil || m["open_id"] != nil {
			t.Errorf("getUserInfo openid: %s", raw)
		}
	}
	qaNoneOf(t, "getUserInfo answer", raw, token, refresh)
	share := a.proxy.alipayCalls("alipay.user.info.share")
	if len(share) != 1 {
		t.Fatalf("%d user.info.share calls", len(share))
	}
	p := qaFlat(share[0].Form)
	a.checkCertRequest(t, "alipay.user.info.share", p)
	if p["auth_token"] != token || p["biz_content"] != "" {
		t.Errorf("user.info.share: auth_token is the kept token: %v, biz_content %q", p["auth_token"] == token, p["biz_content"])
	}

	before := a.proxy.count("")
	status, m, raw = qaPost(t, a.base+"/ali/auth/getUserInfo", `{"openid":"074QANeverLoggedIn"}`)
	if qaWant(t, "no kept token", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "call auth.code2Session first") {
		t.Errorf("no kept token: errMsg %q", m["errMsg"])
	}
	status, m, raw = qaPost(t, a.base+"/ali/auth/getUserInfo", `{}`)
	if qaWant(t, "no openid", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "openid") {
		t.Errorf("no openid: errMsg %q", m["errMsg"])
	}
	if n := a.proxy.count("") - before; n != 0 {
		t.Errorf("%d gateway calls for refused getUserInfo", n)
	}

	// An expired auth token: refreshed once, the new one used and kept.
	resp, err := testClient.Post("http://"+a.emu+"/_emulator/alipay/expire_tokens?app_id="+payAliAppID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status, m, raw = qaPost(t, a.base+"/ali/auth/getUserInfo", `{"openid":"`+openid+`"}`)
	qaWant(t, "getUserInfo, expired token", status, m, raw, 200, 0)
	oauth := a.proxy.alipayCalls("alipay.system.oauth.token")
	if len(oauth) != 2 {
		t.Fatalf("%d oauth.token calls, want 2 (login, one refresh)", len(oauth))
	}
	rp := qaFlat(oauth[1].Form)
	if rp["grant_type"] != "refresh_token" || rp["refresh_token"] != refresh || rp["code"] != "" {
		t.Errorf("refresh: grant_type %q, refresh_token is the kept one: %v, code %q", rp["grant_type"], rp["refresh_token"] == refresh, rp["code"])
	}
	newToken := qaJSONField(oauth[1].RespBody, "alipay_system_oauth_token_response", "access_token")
	share = a.proxy.alipayCalls("alipay.user.info.share")
	if got := qaFlat(share[len(share)-1].Form)["auth_token"]; got != newToken || newToken == "" {
		t.Errorf("after the refresh user.info.share got another token than the new one")
	}
	qaPost(t, a.base+"/ali/auth/getUserInfo", `{"openid":"`+openid+`"}`)
	if n := len(a.proxy.alipayCalls("alipay.system.oauth.token")); n != 2 {
		t.Errorf("the refreshed token was not kept: %d oauth.token calls", n)
	}
	qaNoneOf(t, "getUserInfo answer", raw, token, refresh, newToken)

	// expose_auth_token: the login answers Alipay's tokens.
	status, m, raw = qaPost(t, a.base+"/aliexp/auth/code2Session", `{"code":"qa-member-exp"}`)
	qaWant(t, "code2Session, expose_auth_token", status, m, raw, 200, 0)
	oauth = a.proxy.alipayCalls("alipay.system.oauth.token")
	last := oauth[len(oauth)-1].RespBody
	if qaStr(m, "accessToken") != qaJSONField(last, "alipay_system_oauth_token_response", "access_token") ||
		qaStr(m, "refreshToken") != qaJSONField(last, "alipay_system_oauth_token_response", "refresh_token") || qaStr(m, "accessToken") == "" {
		t.Errorf("expose_auth_token answer %s", raw)
	}

	// Alipay's own errors are answered with sub_code / sub_msg, HTTP 200.
	status, m, raw = qaPost(t, a.base+"/ali/auth/code2Session", `{"code":"bad-qa"}`)
	if qaWant(t, "bad code", status, m, raw, 200, "isv.code-invalid") && qaStr(m, "errMsg") == "" {
		t.Errorf("bad code: no errMsg: %s", raw)
	}

	// An emulator that forgot its tokens (a changed emulator config starts
	// afresh; the gateway keeps its token in the storage): Alipay's
	// refusal comes back with its sub_code and sub_msg, HTTP 200.
	a.emuExtra = "latency 1ms"
	reloadCaddy(t, qaAliCaddyfile(a, strings.TrimPrefix(a.base, "http://")), a.base+"/")
	status, m, raw = qaPost(t, a.base+"/ali/auth/getUserInfo", `{"openid":"`+openid+`"}`)
	if qaWant(t, "a token Alipay does not know", status, m, raw, 200, "aop.invalid-auth-token") && qaStr(m, "errMsg") == "" {
		t.Errorf("no errMsg: %s", raw)
	}
	qaNoneOf(t, "refused getUserInfo answer", raw, token, refresh, newToken)
	logs, _ := os.ReadFile(a.logFile)
	qaNoneOf(t, "the log", logs, token, refresh, newToken, testAliAESKey)
}

// qaAESEncrypt is AES-CBC with a zero IV and PKCS#7 padding (pad=false:
// no padding, the plaintext a multiple of 16 bytes).
func qaAESEncrypt(t *testing.T, keyB64 string, plain []byte, pad bool) string {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(keyB64)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	if pad {
		n := aes.BlockSize - len(plain)%aes.BlockSize
		plain = append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

// TestAcceptanceAlipayPhoneNumber: decrypt.getPhoneNumber, local: the emulator's
// my.getPhoneNumber response (checked here: its shape, its sign over the
// ciphertext in double quotes, its AES-CBC zero-IV content) posted whole
// or as members; a sign over the ciphertext without quotes, or of the
// wrong type, is 400 UNICLOUD_BAD_SIGNATURE; no sign decrypts as is; a
// wrong aes_key, bad padding or non-JSON is 400 UNICLOUD_BAD_REQUEST
// without the plaintext; another code answers subCode/sub_code (else
// code) with its message. Nothing reaches Alipay's gateway.
func TestAcceptanceAlipayPhoneNumber(t *testing.T) {
	a := qaStartAlipay(t)
	status, hook, raw := qaPost(t, "http://"+a.emu+"/_emulator/alipay/test/phoneNumber", `{"mobile":"13912345678","aes_key":"`+testAliAESKey+`"}`)
	whole := qaStr(hook, "response")
	if status != 200 || whole == "" {
		t.Fatalf("phone hook: %d %s", status, raw)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(whole), &msg); err != nil {
		t.Fatalf("res.response %q: %v", whole, err)
	}
	if msg["sign_type"] != "RSA2" || msg["encrypt_type"] != "AES" || msg["charset"] != "UTF-8" || msg["response"] == "" || msg["sign"] == "" {
		t.Errorf("res.response %s", whole)
	}
	if err := qaRSAVerify(a.alipayCert.PublicKey.(*rsa.PublicKey), `"`+msg["response"]+`"`, msg["sign"], "RSA2"); err != nil {
		t.Errorf("the emulator's sign does not verify over the quoted ciphertext with alipay_cert's key: %v", err)
	}
	before := a.proxy.count("")

	phone := a.base + "/ali/decrypt/getPhoneNumber"
	quoted := `"` + msg["response"] + `"`
	for name, body := range map[string]map[string]any{
		"whole":                         {"response": whole},
		"members, signType":             {"response": msg["response"], "sign": msg["sign"], "signType": "RSA2"},
		"members, sign_type":            {"response": msg["response"], "sign": msg["sign"], "sign_type": "RSA2"},
		"members, RSA (SHA1) signature": {"response": msg["response"], "sign": qaRSASign(t, a.alipayKey, quoted, "RSA"), "signType": "RSA"},
		"no sign":                       {"response": msg["response"]},
	} {
		status, m, raw := qaPost(t, phone, qaJSON(body))
		if qaWant(t, name, status, m, raw, 200, 0) && (m["errMsg"] != "ok" || m["mobile"] != "13912345678") {
			t.Errorf("%s: %s", name, raw)
		}
		qaNoneOf(t, name, raw, testAliAESKey)
	}
	for name, body := range map[string]map[string]any{
		"sign over the ciphertext without quotes": {"response": msg["response"], "sign": qaRSASign(t, a.alipayKey, msg["response"], "RSA2"), "signType": "RSA2"},
		"an RSA2 sign said to be RSA":             {"response": msg["response"], "sign": msg["sign"], "signType": "RSA"},
		"signed with the app's key":               {"response": msg["response"], "sign": qaRSASign(t, payKeys.app, quoted, "RSA2"), "signType": "RSA2"},
		"another ciphertext under the sign":       {"response": qaAESEncrypt(t, testAliAESKey, []byte(`{"code":"10000","msg":"Success","mobile":"13000000000"}`), true), "sign": msg["sign"]},
	} {
		status, m, raw := qaPost(t, phone, qaJSON(body))
		if qaWant(t, name, status, m, raw, 400, "UNICLOUD_BAD_SIGNATURE") && bytes.Contains(raw, []byte("1391234")) {
			t.Errorf("%s: the answer holds the number: %s", name, raw)
		}
	}

	// A wrong aes_key: the sign verifies, the content does not decrypt.
	status, m, raw := qaPost(t, a.base+"/alikey2/decrypt/getPhoneNumber", qaJSON(map[string]any{"response": whole}))
	if qaWant(t, "wrong aes_key", status, m, raw, 400, "UNICLOUD_BAD_REQUEST") && !strings.Contains(qaStr(m, "errMsg"), "could not be decrypted with aes_key") {
		t.Errorf("wrong aes_key: errMsg %q", m["errMsg"])
	}
	qaNoneOf(t, "wrong aes_key answer", raw, "1391234", qaAliAESKey2, testAliAESKey)

	for name, tc := range map[string]struct {
		plain        string
		pad          bool
		status       int
		code, errMsg string
	}{
		"camelCase subCode": {`{"code":"40003","msg":"Insufficient Conditions","subCode":"isv.invalid-auth-relations","subMsg":"无效的授权关系"}`, true, 200, "isv.invalid-auth-relations", "无效的授权关系"},
		"snake sub_code":    {`{"code":"40003","msg":"Insufficient Conditions","sub_code":"isv.invalid-auth-relations","sub_msg":"无效的授权关系"}`, true, 200, "isv.invalid-auth-relations", "无效的授权关系"},
		"code only":         {`{"code":"40004","msg":"Business Failed"}`, true, 200, "40004", "Business Failed"},
		"more fields":       {`{"code":"10000","msg":"Success","mobile":"13700000000","country_code":"86"}`, true, 200, "0", "ok"},
		"bad padding":       {`{"code":"10000","mobile":"13700000000","x":"abcdefghijklmnopqr"}`, false, 400, "UNICLOUD_BAD_REQUEST", "could not be decrypted with aes_key"},
		"not JSON":          {`secret plaintext 13700000000`, true, 400, "UNICLOUD_BAD_REQUEST", "could not be decrypted with aes_key"},
	} {
		plain := []byte(tc.plain)
		if !tc.pad && len(plain)%16 != 0 {
			t.Fatalf("%s: %d bytes", name, len(plain))
		}
		status, m, raw := qaPost(t, phone, qaJSON(map[string]any{"response": qaAESEncrypt(t, testAliAESKey, plain, tc.pad)}))
		if !qaWant(t, name, status, m, raw, tc.status, tc.code) {
			continue
		}
		if !strings.Contains(qaStr(m, "errMsg"), tc.errMsg) {
			t.Errorf("%s: errMsg %q, want %q", name, m["errMsg"], tc.errMsg)
		}
		if tc.status == 400 && bytes.Contains(raw, []byte("13700000000")) {
			t.Errorf("%s: the answer holds the plaintext: %s", name, raw)
		}
		if name == "more fields" && (m["mobile"] != "13700000000" || m["countryCode"] != "86") {
			t.Errorf("more fields: not camelCased: %s", raw)
		}
	}
	if n := a.proxy.count("") - before; n != 0 {
		t.Errorf("decrypt.getPhoneNumber made %d gateway calls", n)
	}
}

// TestAcceptanceAlipayPayURLs: h5 and web orderInfo {payUrl} in certificate mode:
// the endpoint, ?, exactly the common parameters (return_url only when
// given, as given; the SNs), signed; exact yuan strings; other caller
// fields snake_cased into biz_content; notifyUrl overriding notify_url;
// no gateway call. The emulator serves the payUrl as a cashier page (its
// sign checked) and pays it; the notification, verified with alipay_cert,
// reaches the backend in fen.
func TestAcceptanceAlipayPayURLs(t *testing.T) {
	a := qaStartAlipay(t)
	pay := a.base + "/pay/alipay/getOrderInfo"
	for _, tc := range []struct {
		clientType, method, productCode, body string
		fee                                   string
		returnURL, notifyURL, quitURL         string
		biz                                   map[string]string
	}{
		{"h5", "alipay.trade.wap.pay", "QUICK_WAP_WAY",
			`{"clientType":"h5","subject":"qa 网页","outTradeNo":"qa-url-h5","totalFee":10,"returnUrl":"https://shop.example.com/r?a=1&b=%E4%B8%AD","quitUrl":"https://shop.example.com/cart","timeoutExpress":"15m","passbackParams":"k%3Dv"}`,
			"0.10", "https://shop.example.com/r?a=1&b=%E4%B8%AD", "/notify/alipay", "https://shop.example.com/cart",
			map[string]string{"timeout_express": "15m", "passback_params": "k%3Dv", "subject": "qa 网页"}},
		{"web", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY",
			`{"subject":"qa","outTradeNo":"qa-url-web","totalFee":100,"notifyUrl":"https://other.example.com/n"}`,
			"1.00", "", "https://other.example.com/n", "", nil},
	} {
		t.Run(tc.clientType, func(t *testing.T) {
			before := a.proxy.count("")
			status, m, raw := qaPost(t, pay, tc.body, "X-Unicloud-Client-Type", tc.clientType)
			if !qaWant(t, "getOrderInfo", status, m, raw, 200, 0) {
				return
			}
			if n := a.proxy.count("") - before; n != 0 {
				t.Errorf("%d gateway calls, want none", n)
			}
			var body map[string]any
			_ = json.Unmarshal([]byte(tc.body), &body)
			info, _ := m["orderInfo"].(map[string]any)
			payURL := qaStr(info, "payUrl")
			prefix := a.proxy.url + "/gateway.do?"
			if m["outTradeNo"] != body["outTradeNo"] || !strings.HasPrefix(payURL, prefix) || len(info) != 1 {
				t.Fatalf("answer %s, want {payUrl} starting %s and outTradeNo", raw, prefix)
			}
			q, err := url.ParseQuery(strings.TrimPrefix(payURL, prefix))
			if err != nil {
				t.Fatal(err)
			}
			p := qaFlat(q)
			want := "alipay_root_cert_sn,app_cert_sn,app_id,biz_content,charset,format,method,notify_url,sign,sign_type,timestamp,version"
			if tc.returnURL != "" {
				want = "alipay_root_cert_sn,app_cert_sn,app_id,biz_content,charset,format,method,notify_url,return_url,sign,sign_type,timestamp,version"
			}
			var ks []string
			for k := range p {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			if got := strings.Join(ks, ","); got != want {
				t.Errorf("payUrl parameters %s, want %s", got, want)
			}
			a.checkCertRequest(t, "payUrl", p)
			if p["method"] != tc.method || p["app_id"] != payAliAppID || p["format"] != "JSON" || p["charset"] != "utf-8" || p["version"] != "1.0" ||
				p["return_url"] != tc.returnURL || !strings.HasSuffix(p["notify_url"], tc.notifyURL) {
				t.Errorf("payUrl parameters %v", p)
			}
			if _, err := time.Parse("2006-01-02 15:04:05", p["timestamp"]); err != nil {
				t.Errorf("timestamp %q", p["timestamp"])
			}
			var biz map[string]any
			if err := json.Unmarshal([]byte(p["biz_content"]), &biz); err != nil {
				t.Fatalf("biz_content %q", p["biz_content"])
			}
			if biz["out_trade_no"] != body["outTradeNo"] || biz["total_amount"] != tc.fee || biz["product_code"] != tc.productCode {
				t.Errorf("biz_content %v", biz)
			}
			if tc.quitURL != "" && biz["quit_url"] != tc.quitURL {
				t.Errorf("biz_content quit_url %v", biz["quit_url"])
			}
			for k, v := range tc.biz {
				if biz[k] != v {
					t.Errorf("biz_content %s = %v, want %q", k, biz[k], v)
				}
			}
			for _, k := range []string{"totalFee", "total_fee", "returnUrl", "notifyUrl", "clientType", "quitUrl"} {
				if _, ok := biz[k]; ok {
					t.Errorf("biz_content carries %s: %v", k, biz)
				}
			}

			// The emulator's cashier page for it; a changed URL is refused.
			status, _, page := qaDo(t, http.MethodGet, "http://"+a.emu+"/gateway.do?"+strings.TrimPrefix(payURL, prefix), "", "")
			if status != 200 || !bytes.Contains(bytes.ToLower(page), []byte("<form")) {
				t.Errorf("cashier page: %d %.200s", status, page)
			}
			q.Set("total_amount", "0.01")
			bad := url.Values{}
			for k, v := range q {
				bad[k] = v
			}
			bad.Set("biz_content", strings.Replace(p["biz_content"], tc.fee, "0.01", 1))
			if status, _, page := qaDo(t, http.MethodGet, "http://"+a.emu+"/gateway.do?"+bad.Encode(), "", ""); status == 200 && bytes.Contains(bytes.ToLower(page), []byte("<form")) {
				t.Errorf("a payUrl with a changed amount gets a cashier page")
			}
		})
	}

	// Paying the h5 URL sends the notification (certificate mode) to the
	// backend.
	_, m, _ := qaPost(t, pay, `{"subject":"qa","outTradeNo":"qa-url-pay","totalFee":1234,"clientType":"h5"}`)
	info, _ := m["orderInfo"].(map[string]any)
	emuPay(t, a.emu, url.Values{"pay_url": {qaStr(info, "payUrl")}})
	if got := a.backend.next(t); got["outTradeNo"] != "qa-url-pay" || num(got["totalFee"]) != 1234 || got["tradeState"] != "SUCCESS" {
		t.Errorf("backend received %v", got)
	}
}

// TestAcceptanceAlipayNotifyCert: unicloud_payment_notify alipay in certificate
// mode verifies with alipay_cert's key, both string forms (sign_type
// dropped or kept), RSA2 and RSA; a notification signed with another key,
// or changed after signing, is 401 "fail" and never reaches the backend.
func TestAcceptanceAlipayNotifyCert(t *testing.T) {
	a := qaStartAlipay(t)
	n := 0
	notification := func() map[string]string {
		n++
		return map[string]string{
			"notify_time": time.Now().Format("2006-01-02 15:04:05"), "notify_type": "trade_status_sync",
			"notify_id": fmt.Sprintf("qa-notify-%d", n), "app_id": payAliAppID, "charset": "utf-8", "version": "1.0",
			"trade_no": fmt.Sprintf("2024%012d", n), "out_trade_no": fmt.Sprintf("qa-ntf-%d", n), "total_amount": "12.34",
			"receipt_amount": "12.34", "trade_status": "TRADE_SUCCESS", "gmt_payment": "2024-05-06 07:08:09",
			"buyer_id": "2088102146225135",
		}
	}
	send := func(f map[string]string) (int, string) {
		form := url.Values{}
		for k, v := range f {
			form.Set(k, v)
		}
		resp, err := testClient.PostForm(a.base+"/notify/alipay", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, signType string
		keep           bool
	}{{"RSA2", "RSA2", false}, {"RSA2, sign_type kept", "RSA2", true}, {"RSA", "RSA", false}} {
		f := notification()
		f["sign_type"] = tc.signType
		drop := []string{"sign_type"}
		if tc.keep {
			drop = nil
		}
		f["sign"] = qaRSASign(t, a.alipayKey, qaAliSignContent(f, drop...), tc.signType)
		status, body := send(f)
		if status != 200 || body != "success" {
			t.Errorf("%s: %d %q, want 200 success", tc.name, status, body)
			continue
		}
		if got := a.backend.next(t); got["outTradeNo"] != f["out_trade_no"] || num(got["totalFee"]) != 1234 {
			t.Errorf("%s: backend received %v", tc.name, got)
		}
	}
	a.backend.mu.Lock()
	received := len(a.backend.got)
	a.backend.mu.Unlock()
	f := notification()
	f["sign_type"] = "RSA2"
	f["sign"] = qaRSASign(t, payKeys.app, qaAliSignContent(f, "sign_type"), "RSA2")
	if status, body := send(f); status != 401 || body != "fail" {
		t.Errorf("signed with the app's key: %d %q, want 401 fail", status, body)
	}
	f = notification()
	f["sign_type"] = "RSA2"
	f["sign"] = qaRSASign(t, a.alipayKey, qaAliSignContent(f, "sign_type"), "RSA2")
	f["total_amount"] = "0.01"
	if status, body := send(f); status != 401 || body != "fail" {
		t.Errorf("changed after signing: %d %q, want 401 fail", status, body)
	}
	// The verifier is synchronous: a forwarded notification would be in by now.
	a.backend.mu.Lock()
	defer a.backend.mu.Unlock()
	if len(a.backend.got) != received {
		t.Errorf("a refused notification reached the backend")
	}
}
