package signing

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestDecryptMiniProgramDataVector(t *testing.T) {
	v := loadVectors(t).MiniProgramEncryptedData
	pt, err := DecryptMiniProgramData(v.SessionKey, v.IV, v.EncryptedData)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != v.Plaintext {
		t.Fatalf("plaintext differs: %s", pt)
	}
	var doc struct {
		Watermark struct {
			AppID string `json:"appid"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(pt, &doc); err != nil || doc.Watermark.AppID != v.AppID {
		t.Fatalf("watermark.appid %q (%v)", doc.Watermark.AppID, err)
	}
	ct, err := encryptMiniProgramData(v.SessionKey, v.IV, pt)
	if err != nil || ct != v.EncryptedData {
		t.Fatalf("re-encryption differs (%v)", err)
	}
}

func TestDecryptMiniProgramDataErrors(t *testing.T) {
	v := loadVectors(t).MiniProgramEncryptedData
	raw, _ := base64.StdEncoding.DecodeString(v.EncryptedData)
	enc := base64.StdEncoding.EncodeToString
	otherKey := enc([]byte("0123456789abcdef"))
	cases := []struct {
		name, key, iv, data string
		want                error
	}{
		{"wrong session key", otherKey, v.IV, v.EncryptedData, ErrDecrypt},
		{"wrong iv", v.SessionKey, otherKey, v.EncryptedData, nil}, // CBC: only the first block changes; see below
		{"truncated block", v.SessionKey, v.IV, enc(raw[:len(raw)-16]), ErrDecrypt},
		{"truncated byte", v.SessionKey, v.IV, enc(raw[:len(raw)-1]), ErrDecrypt},
		{"empty data", v.SessionKey, v.IV, "", ErrDecrypt},
		{"data not base64", v.SessionKey, v.IV, "%%%", ErrDecrypt},
		{"iv not base64", v.SessionKey, "%%%", v.EncryptedData, ErrDecrypt},
		{"iv 8 bytes", v.SessionKey, enc([]byte("01234567")), v.EncryptedData, ErrDecrypt},
		{"key 32 bytes", enc(make([]byte, 32)), v.IV, v.EncryptedData, ErrBadKey},
		{"key not base64", "tiihtNczf5v6AKRyjwEUhQ", v.IV, v.EncryptedData, ErrBadKey},
	}
	for _, c := range cases {
		pt, err := DecryptMiniProgramData(c.key, c.iv, c.data)
		if c.want == nil {
			// A wrong IV garbles the first block only: the padding still
			// checks, but the JSON no longer is what was sent.
			if err == nil && string(pt) == v.Plaintext {
				t.Errorf("%s: same plaintext", c.name)
			}
			continue
		}
		if !errors.Is(err, c.want) || pt != nil {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// encryptMiniProgramData is the inverse of DecryptMiniProgramData.
func encryptMiniProgramData(sessionKey, iv string, plaintext []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil || len(key) != 16 {
		return "", fmt.Errorf("signing: mini-program data: session_key is not 16 bytes of base64: %w", ErrBadKey)
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil || len(ivb) != aes.BlockSize {
		return "", fmt.Errorf("signing: mini-program data: iv is not 16 bytes of base64: %w", ErrInvalidInput)
	}
	ct, err := cbcEncrypt(key, ivb, plaintext, aes.BlockSize)
	if err != nil {
		return "", fmt.Errorf("signing: mini-program data: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}
