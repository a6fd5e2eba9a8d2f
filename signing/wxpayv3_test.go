package signing

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestWxpayV3RequestSignatureVectors(t *testing.T) {
	v := loadVectors(t).WxpayV3RequestSignatures
	key := vectorPrivateKey(t, v.PrivateKeyFile)
	if len(v.Cases) == 0 {
		t.Fatal("no cases in the vectors")
	}
	for i, c := range v.Cases {
		msg := WxpayV3Message(c.Method, c.URL, c.Timestamp, c.Nonce, c.Body)
		want := c.Method + "\n" + c.URL + "\n" + c.Timestamp + "\n" + c.Nonce + "\n" + c.Body + "\n"
		if msg != want {
			t.Fatalf("case %d: message %q", i, msg)
		}
		sig, err := RSASHA256Sign(key, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if sig != c.Signature {
			t.Errorf("case %d (%s %s): signature differs from the published one", i, c.Method, c.URL)
		}
		auth, err := WxpayV3Authorization("1900007291", "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB", key, c.Method, c.URL, c.Body, c.Timestamp, c.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		wantAuth := `WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="` + c.Nonce + `",signature="` + c.Signature +
			`",timestamp="` + c.Timestamp + `",serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB"`
		if auth != wantAuth {
			t.Errorf("case %d: Authorization\n got %s\nwant %s", i, auth, wantAuth)
		}
		// The signature is over the exact body: one byte more, another signature.
		other, _ := RSASHA256Sign(key, []byte(WxpayV3Message(c.Method, c.URL, c.Timestamp, c.Nonce, c.Body+" ")))
		if other == c.Signature {
			t.Errorf("case %d: changed body, same signature", i)
		}
	}
}

func TestWxpayV3PaySignVector(t *testing.T) {
	v := loadVectors(t).WxpayV3RequestSignatures
	key := vectorPrivateKey(t, v.PrivateKeyFile)
	parts := strings.Split(strings.TrimSuffix(v.MiniProgramPaySign.Message, "\n"), "\n")
	if len(parts) != 4 {
		t.Fatalf("message has %d lines", len(parts))
	}
	sig, err := WxpayV3PaySign(key, parts[0], parts[1], parts[2], parts[3])
	if err != nil {
		t.Fatal(err)
	}
	if sig != v.MiniProgramPaySign.Signature {
		t.Fatal("paySign differs from the published one")
	}
}

func TestWxpayV3AuthorizationRefusesInjection(t *testing.T) {
	key := vectorPrivateKey(t, loadVectors(t).WxpayV3RequestSignatures.PrivateKeyFile)
	for _, f := range []string{`19"00`, "19\r\n00", `a\b`} {
		if _, err := WxpayV3Authorization(f, "SERIAL", key, "GET", "/v3/x", "", "1", "n"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("mchid %q: %v", f, err)
		}
		if _, err := WxpayV3Authorization("1", f, key, "GET", "/v3/x", "", "1", "n"); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("serial %q: %v", f, err)
		}
	}
	if _, err := WxpayV3Authorization("1", "S", nil, "GET", "/v3/x", "", "1", "n"); !errors.Is(err, ErrBadKey) {
		t.Errorf("nil key: %v", err)
	}
}

func TestWxpayV3ResponseVerificationVector(t *testing.T) {
	v := loadVectors(t).WxpayV3ResponseVerification
	pub := vectorPublicKey(t, v.PublicKeyFile)
	ts, nonce, sig := v.Headers["Wechatpay-Timestamp"], v.Headers["Wechatpay-Nonce"], v.Headers["Wechatpay-Signature"]
	body := []byte(v.Body)
	if err := WxpayV3Verify(pub, ts, nonce, body, sig); err != nil {
		t.Fatalf("published answer does not verify: %v", err)
	}
	if got, want := string(WxpayV3VerifyMessage(ts, nonce, body)), ts+"\n"+nonce+"\n"+v.Body+"\n"; got != want {
		t.Fatalf("verify message %q", got)
	}
	// The same check through the generic RSA path.
	if err := rsaVerify(pub, crypto.SHA256, WxpayV3VerifyMessage(ts, nonce, body), sig); err != nil {
		t.Fatalf("rsaVerify: %v", err)
	}

	other := vectorPublicKey(t, "keys/alipay-public-key.pem")
	sigBytes, _ := base64.StdEncoding.DecodeString(sig)
	sigBytes[10] ^= 1
	bad := []struct {
		name            string
		pub             *rsa.PublicKey
		ts, nonce, body string
		sig             string
		want            error
	}{
		{"one added byte", pub, ts, nonce, v.Body + " ", sig, ErrBadSignature},
		{"one byte changed", pub, ts, nonce, strings.Replace(v.Body, "JyC9", "JyC8", 1), sig, ErrBadSignature},
		{"timestamp changed", pub, "1722850422", nonce, v.Body, sig, ErrBadSignature},
		{"nonce changed", pub, ts, nonce[1:], v.Body, sig, ErrBadSignature},
		{"signature bit flipped", pub, ts, nonce, v.Body, base64.StdEncoding.EncodeToString(sigBytes), ErrBadSignature},
		{"signature truncated", pub, ts, nonce, v.Body, sig[:len(sig)-4], ErrBadSignature},
		{"signature not base64", pub, ts, nonce, v.Body, "***" + sig, ErrBadSignature},
		{"wrong key", other, ts, nonce, v.Body, sig, ErrBadSignature},
		{"missing signature", pub, ts, nonce, v.Body, "", ErrMissingSignature},
		{"nil key", nil, ts, nonce, v.Body, sig, ErrBadKey},
	}
	for _, c := range bad {
		if err := WxpayV3Verify(c.pub, c.ts, c.nonce, []byte(c.body), c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestWxpayV3SignVerifyRoundTrip(t *testing.T) {
	key := vectorPrivateKey(t, loadVectors(t).WxpayV3RequestSignatures.PrivateKeyFile)
	body := []byte(`{"id":"EV-2018022511223320873","event_type":"TRANSACTION.SUCCESS"}`)
	sig, err := RSASHA256Sign(key, WxpayV3VerifyMessage("1700000000", "abc", body))
	if err != nil {
		t.Fatal(err)
	}
	if err := WxpayV3Verify(&key.PublicKey, "1700000000", "abc", body, sig); err != nil {
		t.Fatal(err)
	}
}

func TestAEADAES256GCMVectors(t *testing.T) {
	v := loadVectors(t).WxpayV3AEAD
	if len(v.Cases) < 2 {
		t.Fatal("expected the message and certificate cases")
	}
	for i, c := range v.Cases {
		ct := c.Ciphertext
		if c.CiphertextFile != "" {
			ct = strings.TrimSpace(vectorFileText(t, c.CiphertextFile))
		}
		pt, err := DecryptAEADAES256GCM(c.APIV3Key, c.AssociatedData, c.Nonce, ct)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if c.CiphertextFile == "" {
			if string(pt) != c.Plaintext {
				t.Fatalf("case %d: plaintext %q", i, pt)
			}
			again, err := EncryptAEADAES256GCM(c.APIV3Key, c.AssociatedData, c.Nonce, pt)
			if err != nil || again != ct {
				t.Fatalf("case %d: re-encryption differs (%v)", i, err)
			}
		} else {
			cert, err := ParseCertificate(string(pt))
			if err != nil {
				t.Fatalf("case %d: decrypted certificate: %v", i, err)
			}
			const serial = "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
			if got := CertificateSerialNo(cert); got != serial {
				t.Fatalf("case %d: serial %s, want %s", i, got, serial)
			}
			if !strings.Contains(c.Plaintext, serial) {
				t.Fatalf("case %d: vector description does not name the serial", i)
			}
			if _, err := ParseRSAPublicKey(string(pt)); err != nil {
				t.Fatalf("case %d: certificate public key: %v", i, err)
			}
		}

		raw, _ := base64.StdEncoding.DecodeString(ct)
		enc := base64.StdEncoding.EncodeToString
		flipped := append([]byte(nil), raw...)
		flipped[0] ^= 1
		tag := append([]byte(nil), raw...)
		tag[len(tag)-1] ^= 1
		bad := []struct {
			name, key, ad, nonce, ct string
			want                     error
		}{
			{"truncated by one", c.APIV3Key, c.AssociatedData, c.Nonce, enc(raw[:len(raw)-1]), ErrDecrypt},
			{"tag only", c.APIV3Key, c.AssociatedData, c.Nonce, enc(raw[len(raw)-16:]), ErrDecrypt},
			{"shorter than tag", c.APIV3Key, c.AssociatedData, c.Nonce, enc(raw[:15]), ErrDecrypt},
			{"empty", c.APIV3Key, c.AssociatedData, c.Nonce, "", ErrDecrypt},
			{"ciphertext byte changed", c.APIV3Key, c.AssociatedData, c.Nonce, enc(flipped), ErrDecrypt},
			{"tag byte changed", c.APIV3Key, c.AssociatedData, c.Nonce, enc(tag), ErrDecrypt},
			{"associated data changed", c.APIV3Key, c.AssociatedData + "x", c.Nonce, ct, ErrDecrypt},
			{"nonce changed", c.APIV3Key, c.AssociatedData, "x" + c.Nonce[1:], ct, ErrDecrypt},
			{"wrong key", strings.Repeat("k", 32), c.AssociatedData, c.Nonce, ct, ErrDecrypt},
			{"key 31 bytes", c.APIV3Key[:31], c.AssociatedData, c.Nonce, ct, ErrBadKey},
			{"key 33 bytes", c.APIV3Key + "x", c.AssociatedData, c.Nonce, ct, ErrBadKey},
			{"key 16 bytes", c.APIV3Key[:16], c.AssociatedData, c.Nonce, ct, ErrBadKey},
			{"empty nonce", c.APIV3Key, c.AssociatedData, "", ct, ErrInvalidInput},
			{"not base64", c.APIV3Key, c.AssociatedData, c.Nonce, "#" + ct, ErrDecrypt},
		}
		for _, b := range bad {
			pt, err := DecryptAEADAES256GCM(b.key, b.ad, b.nonce, b.ct)
			if !errors.Is(err, b.want) || pt != nil {
				t.Errorf("case %d %s: err = %v, want %v", i, b.name, err, b.want)
				continue
			}
			if strings.Contains(err.Error(), c.APIV3Key[:16]) {
				t.Errorf("case %d %s: error leaks the key", i, b.name)
			}
		}
	}
	if _, err := EncryptAEADAES256GCM("short", "", "123456789012", nil); !errors.Is(err, ErrBadKey) {
		t.Errorf("encrypt with short key: %v", err)
	}
}
