package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testApp       = "wx1111111111111111"
	testSecret    = "mini-program-secret"
	testApp2      = "wx2222222222222222"
	testSecret2   = "second-mini-program-secret"
	testOA        = "wx3333333333333333"
	testOASecret  = "official-account-secret"
	testGrace     = 5 * time.Minute
	testTTL       = 7200 * time.Second
	jsonMediaType = "application/json; encoding=utf-8"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestServer(t *testing.T) (*Server, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	s := New(Config{
		WeixinApps:             map[string]string{testApp: testSecret, testApp2: testSecret2},
		WeixinOfficialAccounts: map[string]string{testOA: testOASecret},
		Now:                    clock.Now,
	})
	return s, clock
}

// do sends one request to s.
func do(s *Server, method, target string, body io.Reader, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// decode parses a JSON answer, failing the test on anything else.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != jsonMediaType {
		t.Fatalf("Content-Type = %q, want %q (body %.200s)", ct, jsonMediaType, w.Body.String())
	}
	var m map[string]any
	dec := json.NewDecoder(w.Body)
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("answer is not a JSON object: %v", err)
	}
	return m
}

// getJSON and postJSON call s and decode the JSON answer.
func getJSON(t *testing.T, s *Server, target string) map[string]any {
	t.Helper()
	return decode(t, do(s, http.MethodGet, target, nil, ""))
}

func postJSON(t *testing.T, s *Server, target string, body any) map[string]any {
	t.Helper()
	return decode(t, do(s, http.MethodPost, target, bytes.NewReader(mustJSON(body)), "application/json"))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// multipartBody builds a multipart form with one file field.
func multipartBody(field, filename, contentType string, data []byte) (body *bytes.Buffer, formType string) {
	body = &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="` + field + `"; filename="` + filename + `"`}
	h["Content-Type"] = []string{contentType}
	part, _ := mw.CreatePart(h)
	part.Write(data)
	mw.Close()
	return body, mw.FormDataContentType()
}

// errcode returns an answer's errcode (0 when absent, as on token answers).
func errcode(m map[string]any) int {
	n, _ := m["errcode"].(json.Number)
	i, _ := n.Int64()
	return int(i)
}

func wantErrcode(t *testing.T, m map[string]any, want int) {
	t.Helper()
	if got := errcode(m); got != want {
		t.Fatalf("errcode = %d, want %d (answer %v)", got, want, m)
	}
	if want != 0 && !strings.Contains(m["errmsg"].(string), " rid: ") {
		t.Errorf("errmsg %q has no rid", m["errmsg"])
	}
	if want == 0 && m["errmsg"] != "ok" {
		t.Errorf("errmsg = %v, want ok", m["errmsg"])
	}
}

// stableToken gets appid's stable token.
func stableToken(t *testing.T, s *Server, appid, secret string, force bool) (string, int64) {
	t.Helper()
	m := postJSON(t, s, "/cgi-bin/stable_token", map[string]any{
		"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force,
	})
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token: %v", m)
	}
	n, _ := m["expires_in"].(json.Number).Int64()
	return tok, n
}

// classicToken gets a new token from /cgi-bin/token.
func classicToken(t *testing.T, s *Server, appid, secret string) string {
	t.Helper()
	m := getJSON(t, s, "/cgi-bin/token?"+url.Values{"grant_type": {"client_credential"}, "appid": {appid}, "secret": {secret}}.Encode())
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token: %v", m)
	}
	return tok
}

// probe calls a token-protected API with tok and returns its errcode.
func probe(t *testing.T, s *Server, tok string) int {
	t.Helper()
	return errcode(postJSON(t, s, "/wxa/msg_sec_check?access_token="+url.QueryEscape(tok), map[string]any{"content": "hi"}))
}
