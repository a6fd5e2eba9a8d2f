package unicloud

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// testAliAESKey is the test app's content-encryption key (base64 of 16 bytes).
const testAliAESKey = "aa4BtZ4tspm2wnXLb1ThQA=="

// selfSignedPEM is a certificate for key that Alipay never issued.
func selfSignedPEM(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not from Alipay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// alipayCertCaddyfile runs the emulator in certificate mode (its test PKI
// in pki) and the three Alipay directives pointed at the PKI's files;
// /ali-wrong/ holds an app certificate the emulator did not issue, and
// appCert, when set, replaces the app certificate of every block.
func alipayCertCaddyfile(dir, pki, emu, gw, backend, appCert string) string {
	if appCert == "" {
		appCert = "{file." + filepath.Join(pki, emulator.AlipayAppCertFile(payAliAppID)) + "}"
	}
	certs := fmt.Sprintf(`app_cert %s
			alipay_cert {file.%[2]s/%[3]s}
			alipay_root_cert {file.%[2]s/%[4]s}`, appCert, pki, emulator.AlipayCertFile, emulator.AlipayRootCertFile)
	return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%[1]s {
	unicloud_emulator {
		alipay_app %[3]s {file.%[4]s/app_public_key.pem}
		alipay_test_pki %[5]s
	}
}

http://%[2]s {
	handle_path /ali/* {
		unicloud_openapi alipay {
			app_id %[3]s
			private_key {file.%[4]s/app_private_key.pem}
			key_type PKCS1
			%[6]s
			aes_key %[10]s
			endpoint http://%[1]s/gateway.do
		}
	}
	handle_path /ali-wrong/* {
		unicloud_openapi alipay {
			app_id %[3]s
			private_key {file.%[4]s/app_private_key.pem}
			key_type PKCS1
			app_cert {file.%[4]s/self_signed_app.crt}
			alipay_cert {file.%[5]s/%[8]s}
			alipay_root_cert {file.%[5]s/%[9]s}
			endpoint http://%[1]s/gateway.do
		}
	}
	handle_path /pay/alipay/* {
		unicloud_payment alipay {
			app_id %[3]s
			private_key {file.%[4]s/app_private_key.pem}
			key_type PKCS1
			%[6]s
			notify_url http://%[2]s/notify/alipay
			endpoint http://%[1]s/gateway.do
		}
	}
	route /notify/alipay {
		unicloud_payment_notify alipay {
			app_id %[3]s
			%[6]s
		}
		reverse_proxy %[7]s
	}
}
`, emu, gw, payAliAppID, dir, pki, certs, backend, emulator.AlipayCertFile, emulator.AlipayRootCertFile, testAliAESKey)
}

// TestAlipayCertModeThroughCaddy: the gateway in certificate mode against
// the emulator's test PKI, whose files the Caddyfile adapter writes before
// the gateway reads them: code2Session and a payment (precreate, paid, its
// notification verified with the Alipay certificate) work; an app
// certificate Alipay did not issue gets Alipay's refusal; one of another
// key stops the config, naming app_cert.
func TestAlipayCertModeThroughCaddy(t *testing.T) {
	payRSAKeys(t)
	backend, backendAddr := newPayBackend(t)
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"app_private_key.pem": payKeys.appPEM,
		"app_public_key.pem":  pubPEMOf(&payKeys.app.PublicKey),
		"self_signed_app.crt": selfSignedPEM(t, payKeys.app),
		"other_key_app.crt":   selfSignedPEM(t, other),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	emu, gw := freeAddr(t), freeAddr(t)
	loadCaddy(t, alipayCertCaddyfile(dir, pki, emu, gw, backendAddr, ""))
	base := "http://" + gw

	status, m := payPost(t, base+"/ali/auth/code2Session", `{"code":"cert-mode-code"}`)
	if status != 200 || num(m["errCode"]) != 0 || m["openid"] == "" || m["openid"] == nil {
		t.Fatalf("code2Session: %d %v", status, m)
	}

	openid, _ := m["openid"].(string)

	// The auth token stays with the gateway, in Caddy's storage too;
	// getUserInfo takes the openid, and refreshes the token Alipay says
	// has expired.
	if files, _ := filepath.Glob(filepath.Join(dir, "storage", "unicloud", "user_tokens", "*.json")); len(files) != 1 {
		t.Errorf("kept tokens in storage: %v", files)
	}
	for i, expire := range []bool{false, true} {
		if expire {
			if status, _ := payPost(t, "http://"+emu+"/_emulator/alipay/expire_tokens", ``); status != 200 {
				t.Fatalf("expire hook: %d", status)
			}
		}
		status, m = payPost(t, base+"/ali/auth/getUserInfo", `{"openid":"`+openid+`"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["openid"] != openid || m["nickName"] == nil || m["accessToken"] != nil {
			t.Errorf("getUserInfo #%d: %d %v", i, status, m)
		}
	}

	// A phone number the mini-program got, encrypted and signed.
	status, hook := payPost(t, "http://"+emu+"/_emulator/alipay/test/phoneNumber", `{"mobile":"13800000000","aes_key":"`+testAliAESKey+`"}`)
	res, _ := hook["response"].(string)
	if status != 200 || res == "" {
		t.Fatalf("phone hook: %d %v", status, hook)
	}
	status, m = payPost(t, base+"/ali/decrypt/getPhoneNumber", `{"response":`+strconv.Quote(res)+`}`)
	if status != 200 || num(m["errCode"]) != 0 || m["mobile"] != "13800000000" {
		t.Errorf("getPhoneNumber: %d %v", status, m)
	}
	status, m = payPost(t, base+"/ali/decrypt/getPhoneNumber", `{"response":`+strconv.Quote(strings.Replace(res, `"sign":"`, `"sign":"A`, 1))+`}`)
	if status != 400 || m["errCode"] != "UNICLOUD_BAD_SIGNATURE" {
		t.Errorf("getPhoneNumber, bad sign: %d %v", status, m)
	}

	status, m = payPost(t, base+"/pay/alipay/getOrderInfo", `{"subject":"证书","outTradeNo":"cert-1","totalFee":10,"clientType":"native"}`)
	info, _ := m["orderInfo"].(map[string]any)
	if qr, _ := info["qrCode"].(string); status != 200 || !strings.HasPrefix(qr, "https://qr.alipay.com/") {
		t.Fatalf("getOrderInfo: %d %v", status, m)
	}
	emuPay(t, emu, url.Values{"out_trade_no": {"cert-1"}})
	if got := backend.next(t); got["outTradeNo"] != "cert-1" || num(got["totalFee"]) != 10 || got["tradeState"] != "SUCCESS" {
		t.Errorf("backend received %v", got)
	}
	if _, m = payPost(t, base+"/pay/alipay/orderQuery", `{"outTradeNo":"cert-1"}`); m["tradeState"] != "SUCCESS" {
		t.Errorf("orderQuery: %v", m)
	}

	status, m = payPost(t, base+"/ali-wrong/auth/code2Session", `{"code":"cert-mode-code"}`)
	if status != 200 || m["errCode"] != "isv.app-cert-not-exist" || m["errMsg"] != "应用公钥证书不存在" {
		t.Errorf("an app certificate Alipay did not issue: %d %v", status, m)
	}

	err = caddy.Load(adaptCaddyfile(t, alipayCertCaddyfile(dir, pki, emu, gw, backendAddr, "{file."+filepath.Join(dir, "other_key_app.crt")+"}")), true)
	if err == nil || !strings.Contains(err.Error(), "app_cert: the certificate's public key is not the one of private_key") {
		t.Errorf("an app certificate of another key: %v", err)
	}
}
