package signing

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// OASignature is the signature of an official-account message push: the
// parts (token, timestamp, nonce, and for msg_signature the Encrypt field)
// sorted, concatenated, SHA1, lowercase hex. Compare it with EqualHex.
func OASignature(parts ...string) string {
	s := slices.Clone(parts)
	slices.Sort(s)
	h := sha1.New()
	for _, p := range s {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// oaBlock is WXBizMsgCrypt's PKCS#7 block size (not AES's 16).
const oaBlock = 32

func oaKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("signing: official-account message: EncodingAESKey is %d characters, want 43: %w", len(encodingAESKey), ErrBadKey)
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("signing: official-account message: EncodingAESKey is not base64: %w", ErrBadKey)
	}
	return key, nil
}

// DecryptOAMessage decrypts the Encrypt field of an official-account (or
// mini-program customer-service) message push, WXBizMsgCrypt: AES-256-CBC
// with key base64(EncodingAESKey+"="), IV its first 16 bytes, PKCS#7 to 32
// bytes; the plaintext is 16 random bytes, the message length (4 bytes, big
// endian), the message, and the appid, which the caller compares.
func DecryptOAMessage(encodingAESKey, encryptBase64 string) (msg []byte, appID string, err error) {
	key, err := oaKey(encodingAESKey)
	if err != nil {
		return nil, "", err
	}
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encryptBase64))
	if err != nil {
		return nil, "", fmt.Errorf("signing: official-account message: not base64: %w", ErrDecrypt)
	}
	pt, err := cbcDecrypt(key, key[:16], ct, oaBlock)
	if err != nil {
		return nil, "", fmt.Errorf("signing: official-account message: %w", err)
	}
	if len(pt) < 20 {
		return nil, "", fmt.Errorf("signing: official-account message: plaintext too short: %w", ErrDecrypt)
	}
	n := binary.BigEndian.Uint32(pt[16:20])
	if uint64(n) > uint64(len(pt)-20) {
		return nil, "", fmt.Errorf("signing: official-account message: length field out of range: %w", ErrDecrypt)
	}
	return pt[20 : 20+n], string(pt[20+n:]), nil
}

// EncryptOAMessage is the inverse of DecryptOAMessage, for the emulator and
// tests.
func EncryptOAMessage(encodingAESKey, appID string, msg []byte) (string, error) {
	key, err := oaKey(encodingAESKey)
	if err != nil {
		return "", err
	}
	if uint64(len(msg)) > 1<<32-1 {
		return "", fmt.Errorf("signing: official-account message: too long: %w", ErrInvalidInput)
	}
	pt := make([]byte, 20, 20+len(msg)+len(appID))
	_, _ = rand.Read(pt[:16])
	binary.BigEndian.PutUint32(pt[16:20], uint32(len(msg)))
	pt = append(pt, msg...)
	pt = append(pt, appID...)
	ct, err := cbcEncrypt(key, key[:16], pt, oaBlock)
	if err != nil {
		return "", fmt.Errorf("signing: official-account message: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}
