package alipay

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf/alipaytest"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

const testAESKey = "aa4BtZ4tspm2wnXLb1ThQA==" // base64 of 16 bytes

// phoneMessage is what my.getPhoneNumber gives: plaintext encrypted with
// key and, unless signer is -1, signed by Alipay's signer-th test key over
// the ciphertext in double quotes.
func phoneMessage(t *testing.T, p *alipaytest.PKI, key, plaintext string, signer int) (whole, ciphertext, sign string) {
	t.Helper()
	k, err := alipay.ParseAESKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := alipay.EncryptContent(k, []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"response": ct, "encrypt_type": "AES", "charset": "UTF-8"}
	if signer >= 0 {
		if sign, err = signing.AlipaySign(p.AlipayKeys[signer], []byte(`"`+ct+`"`), "RSA2"); err != nil {
			t.Fatal(err)
		}
		m["sign"], m["sign_type"] = sign, "RSA2"
	}
	b, _ := json.Marshal(m)
	return string(b), ct, sign
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// decrypt.getPhoneNumber: the whole res.response or its members; the sign
// verified over the quoted ciphertext when present, the content decrypted
// with aes_key; Alipay's refusal inside the plaintext answered with its
// sub_code.
func TestGetPhoneNumber(t *testing.T) {
	p := alipaytest.New(t)
	g := newGateway(t, p)
	a := publicKeyGuest(t, g, p, func(a *Alipay) { a.AESKey = testAESKey })
	ok := `{"code":"10000","msg":"Success","mobile":"13800000000"}`
	whole, ct, sign := phoneMessage(t, p, testAESKey, ok, 0)
	unsigned, _, _ := phoneMessage(t, p, testAESKey, ok, -1)
	for name, body := range map[string]string{
		"whole":          `{"response":` + jsonString(whole) + `}`,
		"members":        `{"response":"` + ct + `","sign":"` + sign + `","sign_type":"RSA2"}`,
		"members camel":  `{"response":"` + ct + `","sign":"` + sign + `","signType":"RSA2"}`,
		"unsigned whole": `{"response":` + jsonString(unsigned) + `}`,
		"unsigned":       `{"response":"` + ct + `"}`,
	} {
		m, err := call(t, a, apiGetPhoneNumber, body)
		if err != nil || num(m["errCode"]) != 0 || m["errMsg"] != "ok" || m["mobile"] != "13800000000" || m["code"] != nil {
			t.Errorf("%s: %v %v", name, m, err)
		}
	}

	refused, _, _ := phoneMessage(t, p, testAESKey, `{"code":"40003","msg":"Insufficient Conditions","subCode":"isv.invalid-auth-relations","subMsg":"无效的授权关系"}`, 0)
	if m, err := call(t, a, apiGetPhoneNumber, `{"response":`+jsonString(refused)+`}`); err != nil || m["errCode"] != "isv.invalid-auth-relations" || m["errMsg"] != "无效的授权关系" {
		t.Errorf("refused: %v %v", m, err)
	}

	forged, _, _ := phoneMessage(t, p, testAESKey, ok, 1) // another key than Alipay's
	_, err := call(t, a, apiGetPhoneNumber, `{"response":`+jsonString(forged)+`}`)
	wantError(t, "signed by another key", err, 400, "UNICLOUD_BAD_SIGNATURE", "does not verify")
	_, err = call(t, a, apiGetPhoneNumber, `{"response":"`+ct+`","sign":"`+sign+`x"}`)
	wantError(t, "bad sign", err, 400, "UNICLOUD_BAD_SIGNATURE", "does not verify")
	tampered := strings.Replace(whole, ct, ct[:len(ct)-4]+"AAA=", 1)
	_, err = call(t, a, apiGetPhoneNumber, `{"response":`+jsonString(tampered)+`}`)
	wantError(t, "changed ciphertext", err, 400, "UNICLOUD_BAD_SIGNATURE", "does not verify")

	other, _, _ := phoneMessage(t, p, "MDEyMzQ1Njc4OWFiY2RlZg==", ok, -1)
	_, err = call(t, a, apiGetPhoneNumber, `{"response":`+jsonString(other)+`}`)
	wantError(t, "another aes key", err, 400, handlers.ErrBadRequest, "could not be decrypted with aes_key")
	if err != nil && strings.Contains(err.Error(), "138") {
		t.Errorf("plaintext in the error: %v", err)
	}
	_, err = call(t, a, apiGetPhoneNumber, `{}`)
	wantError(t, "no response", err, 400, handlers.ErrBadRequest, "response")

	noKey := publicKeyGuest(t, g, p, nil)
	_, err = call(t, noKey, apiGetPhoneNumber, `{"response":`+jsonString(whole)+`}`)
	wantError(t, "no aes_key", err, 400, handlers.ErrBadRequest, "aes_key is not configured")
}

// In certificate mode the sign is verified with the Alipay certificates'
// keys; a bad aes_key stops the config without showing it.
func TestGetPhoneNumberCertMode(t *testing.T) {
	p := alipaytest.New(t)
	a, err := certGuest(t, p, "http://127.0.0.1:9/gateway.do", p.AlipayCerts[0], p.AlipayCerts[1])
	if err != nil {
		t.Fatal(err)
	}
	k, _ := alipay.ParseAESKey(testAESKey)
	a.aesKey = k
	whole, _, _ := phoneMessage(t, p, testAESKey, `{"code":"10000","msg":"Success","mobile":"13900000000"}`, 1)
	if m, err := call(t, a, apiGetPhoneNumber, `{"response":`+jsonString(whole)+`}`); err != nil || m["mobile"] != "13900000000" {
		t.Errorf("signed by the next certificate: %v %v", m, err)
	}
	only, err := certGuest(t, p, "http://127.0.0.1:9/gateway.do", p.AlipayCerts[0])
	if err != nil {
		t.Fatal(err)
	}
	only.aesKey = k
	_, err = call(t, only, apiGetPhoneNumber, `{"response":`+jsonString(whole)+`}`)
	wantError(t, "an unconfigured certificate", err, 400, "UNICLOUD_BAD_SIGNATURE", "does not verify")

	for key, want := range map[string]string{"c2VjcmV0LXNob3J0": "16 bytes (AES-128), not 12", "%%%SECRETISH": "not base64"} {
		b := &Alipay{AppID: "2021", PrivateKey: p.AppKeyPEM, KeyType: "PKCS1", AESKey: key, CertFiles: alipayconf.CertFiles{
			AppCert: p.AppCert, AlipayCert: []string{p.AlipayCerts[0]}, AlipayRootCert: p.RootCert}}
		err := provisionOnly(b)
		if err == nil || !strings.Contains(err.Error(), "aes_key: ") || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), key) {
			t.Errorf("aes_key %q: %v", key, err)
		}
	}
}
