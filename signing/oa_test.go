package signing

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestOASignatureVector(t *testing.T) {
	v := loadVectors(t).OAPush
	if got := OASignature(v.Token, v.Timestamp, v.Nonce); got != v.SignatureTokenTSNonce {
		t.Fatalf("signature: got %s, want %s", got, v.SignatureTokenTSNonce)
	}
	if got := OASignature(v.Token, v.Timestamp, v.Nonce, v.Encrypt); got != v.MsgSignature {
		t.Fatalf("msg_signature: got %s, want %s", got, v.MsgSignature)
	}
	// Order of the arguments does not matter, and the caller's slice is not sorted in place.
	parts := []string{v.Nonce, v.Encrypt, v.Timestamp, v.Token}
	if got := OASignature(parts...); got != v.MsgSignature {
		t.Fatal("order matters")
	}
	if parts[0] != v.Nonce {
		t.Fatal("OASignature sorted the caller's slice")
	}
	if OASignature(v.Token, v.Timestamp, v.Nonce+"1") == v.SignatureTokenTSNonce {
		t.Fatal("changed nonce, same signature")
	}
}

func TestDecryptOAMessageVector(t *testing.T) {
	v := loadVectors(t).OAPush
	msg, appID, err := DecryptOAMessage(v.EncodingAESKey, v.Encrypt)
	if err != nil {
		t.Fatal(err)
	}
	if appID != v.AppID {
		t.Fatalf("appid %q, want %q", appID, v.AppID)
	}
	if !strings.HasPrefix(string(msg), "<xml>") || !strings.HasSuffix(strings.TrimSpace(string(msg)), "</xml>") {
		t.Fatalf("message is not the XML push: %q", msg)
	}
	// Round trip through EncryptOAMessage (random prefix: compare plaintexts).
	ct, err := EncryptOAMessage(v.EncodingAESKey, v.AppID, msg)
	if err != nil {
		t.Fatal(err)
	}
	msg2, appID2, err := DecryptOAMessage(v.EncodingAESKey, ct)
	if err != nil || string(msg2) != string(msg) || appID2 != v.AppID {
		t.Fatalf("round trip: %v", err)
	}
}

func TestDecryptOAMessageErrors(t *testing.T) {
	v := loadVectors(t).OAPush
	raw, _ := base64.StdEncoding.DecodeString(v.Encrypt)
	enc := base64.StdEncoding.EncodeToString
	otherKey := strings.Repeat("A", 43)
	cases := []struct {
		name, key, data string
		want            error
	}{
		{"wrong key", otherKey, v.Encrypt, ErrDecrypt},
		{"key 42 chars", v.EncodingAESKey[:42], v.Encrypt, ErrBadKey},
		{"key not base64", strings.Repeat("%", 43), v.Encrypt, ErrBadKey},
		{"truncated 16", v.EncodingAESKey, enc(raw[:len(raw)-16]), ErrDecrypt},
		{"truncated 1", v.EncodingAESKey, enc(raw[:len(raw)-1]), ErrDecrypt},
		{"empty", v.EncodingAESKey, "", ErrDecrypt},
		{"not base64", v.EncodingAESKey, "@@" + v.Encrypt, ErrDecrypt},
	}
	for _, c := range cases {
		msg, _, err := DecryptOAMessage(c.key, c.data)
		if !errors.Is(err, c.want) || msg != nil {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// A length field past the end of the plaintext.
	key, _ := oaKey(v.EncodingAESKey)
	pt := make([]byte, 20, 64)
	pt[16] = 0x7f
	pt = append(pt, "short"...)
	ct, _ := cbcEncrypt(key, key[:16], pt, oaBlock)
	if _, _, err := DecryptOAMessage(v.EncodingAESKey, enc(ct)); !errors.Is(err, ErrDecrypt) {
		t.Errorf("length out of range: %v", err)
	}
}
