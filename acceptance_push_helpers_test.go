package unicloud

// Helpers of the acceptance checks of §5a (unicloud_message_notify weixin)
// and §4b (unicloud_payment wxpay_virtual): WeChat's signatures and the
// message-push encryption computed here from the contract's text, a
// recording backend, and small request helpers.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// pushSig is hex(sha1(sort(parts) joined)): signature and msg_signature.
func pushSig(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// pushKey is base64decode(EncodingAESKey + "=").
func pushKey(t testing.TB, k43 string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(k43 + "=")
	if err != nil || len(k) != 32 {
		t.Fatalf("bad EncodingAESKey %q: %v", k43, err)
	}
	return k
}

// pushPlainBlock is random16 + len(msg) big endian + msg + appid.
func pushPlainBlock(msg []byte, appid string) []byte {
	var b bytes.Buffer
	r := make([]byte, 16)
	_, _ = rand.Read(r)
	b.Write(r)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(msg)))
	b.Write(msg)
	b.WriteString(appid)
	return b.Bytes()
}

// pushCBC encrypts raw (already padded to 16) with the key, IV = key[:16].
func pushCBC(key, raw []byte) string {
	blk, _ := aes.NewCipher(key)
	out := make([]byte, len(raw))
	cipher.NewCBCEncrypter(blk, key[:16]).CryptBlocks(out, raw)
	return base64.StdEncoding.EncodeToString(out)
}

// pushPad is PKCS#7 padding to a multiple of 32 bytes.
func pushPad(b []byte) []byte {
	n := 32 - len(b)%32
	return append(append([]byte(nil), b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

// pushEncrypt is WeChat's Encrypt of msg for appid.
func pushEncrypt(t testing.TB, k43, appid string, msg []byte) string {
	return pushCBC(pushKey(t, k43), pushPad(pushPlainBlock(msg, appid)))
}

// pushDecrypt opens an Encrypt: the message and the receiver id.
func pushDecrypt(t testing.TB, k43, enc string) ([]byte, string, error) {
	key := pushKey(t, k43)
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 || len(raw)%16 != 0 {
		return nil, "", fmt.Errorf("bad ciphertext %q", enc)
	}
	blk, _ := aes.NewCipher(key)
	out := make([]byte, len(raw))
	cipher.NewCBCDecrypter(blk, key[:16]).CryptBlocks(out, raw)
	n := int(out[len(out)-1])
	if n < 1 || n > 32 || n > len(out) || len(out)%32 != 0 {
		return nil, "", fmt.Errorf("bad padding %d (length %d)", n, len(out))
	}
	for _, c := range out[len(out)-n:] {
		if int(c) != n {
			return nil, "", errors.New("bad padding bytes")
		}
	}
	out = out[:len(out)-n]
	if len(out) < 20 {
		return nil, "", errors.New("short plaintext")
	}
	l := int(binary.BigEndian.Uint32(out[16:20]))
	if 20+l > len(out) {
		return nil, "", errors.New("bad length")
	}
	return out[20 : 20+l], string(out[20+l:]), nil
}

func xpayHMAC(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// ---------------------------------------------------------------------------
// The recording backend behind unicloud_message_notify.

type pushGot struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

type pushBackendRec struct {
	url string
	mu  sync.Mutex
	got []pushGot
	// answer decides the backend's answer (default: 200 with no body).
	answer func(g pushGot) (int, string)
}

func newPushBackend(t *testing.T) *pushBackendRec {
	b := &pushBackendRec{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		g := pushGot{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Raw: raw}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		_ = d.Decode(&g.Body)
		b.mu.Lock()
		b.got = append(b.got, g)
		answer := b.answer
		b.mu.Unlock()
		status, body := 200, ""
		if answer != nil {
			status, body = answer(g)
		}
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	b.url = strings.TrimPrefix(srv.URL, "http://")
	return b
}

func (b *pushBackendRec) setAnswer(f func(g pushGot) (int, string)) {
	b.mu.Lock()
	b.answer = f
	b.mu.Unlock()
}

func (b *pushBackendRec) n() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

func (b *pushBackendRec) last(t *testing.T) pushGot {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.got) == 0 {
		t.Fatal("the backend received nothing")
	}
	return b.got[len(b.got)-1]
}

// wait polls (with a deadline) until the backend has received n requests:
// only for what the contract makes asynchronous (the emulator's pushes).
func (b *pushBackendRec) wait(t *testing.T, n int) pushGot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for b.n() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the backend received %d requests, want %d", b.n(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[n-1]
}

// ---------------------------------------------------------------------------
// Requests.

type pushResp struct {
	Status int
	CType  string
	Body   string
	Header http.Header
}

func pushDo(t *testing.T, method, u, body string, header ...string) pushResp {
	t.Helper()
	r := testSend(t, method, u, headerPairs("", header...), []byte(body))
	return pushResp{Status: r.Status, CType: r.Header.Get("Content-Type"), Body: string(r.Body), Header: r.Header}
}

func pushNow() string { return fmt.Sprint(time.Now().Unix()) }

// pushPlainQuery is a plaintext-mode query signed with token.
func pushPlainQuery(token, ts, nonce string) string {
	return url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {pushSig(token, ts, nonce)}}.Encode()
}

// pushAESQuery is an aes-mode query with msg_signature over enc.
func pushAESQuery(token, ts, nonce, enc string) string {
	return url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {pushSig(token, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {pushSig(token, ts, nonce, enc)}}.Encode()
}

// pushRefused checks a refusal: the status, text/plain, body "fail", and
// nothing forwarded.
func pushRefused(t *testing.T, what string, r pushResp, status int, b *pushBackendRec, before int) {
	t.Helper()
	if r.Status != status || !strings.HasPrefix(r.CType, "text/plain") || r.Body != "fail" {
		t.Errorf("%s: %d %q %q, want %d text/plain \"fail\"", what, r.Status, r.CType, r.Body, status)
	}
	if b != nil && b.n() != before {
		t.Errorf("%s: a refused push reached the backend: %s", what, b.last(t).Raw)
	}
}

// pushJSONObj decodes a JSON object with exact numbers.
func pushJSONObj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", s, err)
	}
	return m
}

func pushReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
