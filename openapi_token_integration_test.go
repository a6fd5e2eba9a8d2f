package unicloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/emulator"
)

// The gateway's access tokens: one per app, shared by reloads and instances,
// and the one retry when WeChat rejects it.

// tokenSpy stands in front of the emulator: it records the access token of
// every urllink.generate call and answers reject[token], when set, instead
// of the emulator.
type tokenSpy struct {
	emu    *emulator.Server
	mu     sync.Mutex
	sent   []string
	reject map[string]int64
}

func (s *tokenSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/wxa/generate_urllink" {
		tok := r.URL.Query().Get("access_token")
		s.mu.Lock()
		s.sent = append(s.sent, tok)
		code := s.reject[tok]
		s.mu.Unlock()
		if code != 0 {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"rejected by the test"}`, code)
			return
		}
	}
	s.emu.ServeHTTP(w, r)
}

func (s *tokenSpy) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// Each of WeChat's token rejections — 40001 (invalid credential), 40014
// (invalid access_token) and 42001 (access_token expired) — is retried once
// with a new token: the caller gets the retry's answer, WeChat saw the old
// token then a new one, and one new token was fetched. Any other errcode is
// the caller's answer, not retried.
func TestOpenAPITokenRejections(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reject func(emu *emulator.Server, spy *tokenSpy, token string)
		retry  bool
	}{
		{"40001 revoked", func(emu *emulator.Server, _ *tokenSpy, _ string) { emu.RevokeTokens(testAppID) }, true},
		{"42001 expired", func(emu *emulator.Server, _ *tokenSpy, _ string) { emu.ExpireTokens(testAppID) }, true},
		{"40014 invalid", func(emu *emulator.Server, spy *tokenSpy, tok string) {
			spy.mu.Lock()
			spy.reject[tok] = 40014
			spy.mu.Unlock()
			emu.RevokeTokens(testAppID) // the token endpoint issues a new one
		}, true},
		{"45009 quota, not a token error", func(_ *emulator.Server, spy *tokenSpy, tok string) {
			spy.mu.Lock()
			spy.reject[tok] = 45009
			spy.mu.Unlock()
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, spy, g := startSpiedGateway(t)
			g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
			first := spy.tokens()
			if len(first) != 1 || first[0] == "" {
				t.Fatalf("first call sent the tokens %v", first)
			}
			issued := emu.Stats().TokenIssues[testAppID].Stable
			tc.reject(emu, spy, first[0])
			if !tc.retry {
				g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 45009)
				if sent := spy.tokens(); len(sent) != 2 || sent[1] != first[0] {
					t.Fatalf("a non-token error was retried: tokens sent %v", sent)
				}
				if n := emu.Stats().TokenIssues[testAppID].Stable; n != issued {
					t.Fatalf("a non-token error fetched a token: %d issues, want %d", n, issued)
				}
				return
			}
			a := g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
			if !strings.HasPrefix(a.str("urlLink"), "https://") {
				t.Fatalf("retry's answer: %s", a.raw)
			}
			sent := spy.tokens()
			if len(sent) != 3 || sent[1] != first[0] || sent[2] == first[0] || sent[2] == "" {
				t.Fatalf("tokens sent %v, want the old one then a new one", sent)
			}
			if n := emu.Stats().TokenIssues[testAppID].Stable; n < issued+1 || n > issued+2 {
				// One plain stable_token call, plus at most one forced
				// refresh when it handed back the rejected token.
				t.Fatalf("token issues %d after %d, want one refresh", n, issued)
			}
			// The new token is kept: the next call fetches nothing.
			g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
			if after := spy.tokens(); after[len(after)-1] != sent[2] {
				t.Fatalf("the next call sent %q, want %q", after[len(after)-1], sent[2])
			}
		})
	}
}

// startSpiedGateway runs the test gateway against the emulator behind a
// tokenSpy.
func startSpiedGateway(t *testing.T) (*emulator.Server, *tokenSpy, *gateway) {
	t.Setenv("UNICLOUD_TEST_SECRET", testSecret)
	emu := emulator.New(emulator.Config{
		WeixinApps:             map[string]string{testAppID: testSecret, testAppID2: testSecret2},
		WeixinOfficialAccounts: map[string]string{testH5AppID: testH5Secret},
	})
	spy := &tokenSpy{emu: emu, reject: map[string]int64{}}
	srv := httptest.NewServer(spy)
	t.Cleanup(srv.Close)
	addr := freeAddr(t)
	site := fmt.Sprintf("\nhttp://%s {\n\thandle_path /wx/* {\n\t\t%s\n\t}\n}\n", addr, gatewayBlock(srv.URL, ""))
	loadCaddy(t, globalOptions(filepath.Join(t.TempDir(), "storage"), "")+site)
	return emu, spy, &gateway{t: t, base: "http://" + addr, emu: emu}
}

func TestOpenAPITokenRetryOn40001(t *testing.T) {
	g := startGateway(t, "")
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if n := g.emu.Stats().TokenIssues[testAppID].Stable; n != 1 {
		t.Fatalf("token issues %d, want 1", n)
	}
	for i := 0; i < 5; i++ {
		g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	}
	if n := g.emu.Stats().TokenIssues[testAppID].Stable; n != 1 {
		t.Fatalf("cached token not reused: %d issues", n)
	}
	// The provider invalidates the token: the call still succeeds, after
	// one new token.
	g.emu.RevokeTokens(testAppID)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(map[string]any{"path": "p"})
			req, _ := http.NewRequest(http.MethodPost, g.base+"/wx/urllink/generate", bytes.NewReader(b))
			resp, err := testClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if fmt.Sprint(m["errCode"]) != "0" {
				t.Errorf("after revoke: %v", m)
			}
		}()
	}
	wg.Wait()
	st := g.emu.Stats().TokenIssues[testAppID]
	if st.Stable < 2 || st.Stable > 3 {
		// One plain stable_token call (which returns the revoked token's
		// replacement or the same one) plus at most one forced refresh.
		t.Fatalf("token issues after revoke: %+v, want one refresh", st)
	}
	// A caller's own token is used as given.
	g.post("/wx/urllink/generate", map[string]any{"path": "p", "accessToken": "callers-own-bad-token"}).expect(t, 200, 40001)
}

func TestOpenAPIReloadKeepsToken(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_SECRET", testSecret)
	_, _, emuURL := newEmulator(t, 0)
	dir := t.TempDir()
	addr := freeAddr(t)
	cf := func(timeout string) string {
		return globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
}
`, addr, gatewayBlock(emuURL, "timeout "+timeout))
	}
	loadCaddy(t, cf("3s"))
	g := &gateway{t: t, base: "http://" + addr}
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	stats := func() int {
		resp, err := testClient.Get(emuURL + "/_emulator/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st emulator.Stats
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st.TokenIssues[testAppID].Stable + st.TokenIssues[testAppID].Classic
	}
	if stats() != 1 {
		t.Fatalf("token issues %d", stats())
	}
	// A config reload (a changed config) keeps the token.
	reloadCaddy(t, cf("4s"), g.base+"/")
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if n := stats(); n != 1 {
		t.Fatalf("reload fetched a new token: %d issues", n)
	}
}

func TestOpenAPITwoInstancesShareToken(t *testing.T) {
	_, _, emuURL := newEmulator(t, 0)
	storage := filepath.Join(t.TempDir(), "shared-storage")
	var bases []string
	for i := 0; i < 2; i++ {
		addr := freeAddr(t)
		cf := globalOptions(storage, "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		unicloud_openapi weixin {
			app_id   %s
			secret   %s
			endpoint %s
		}
	}
}
`, addr, testAppID, testSecret, emuURL)
		startChildCaddy(t, cf)
		bases = append(bases, "http://"+addr)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			g := &gateway{t: t, base: bases[i%2]}
			b, _ := json.Marshal(map[string]any{"path": "p"})
			req, _ := http.NewRequest(http.MethodPost, g.base+"/wx/urllink/generate", bytes.NewReader(b))
			resp, err := testClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	resp, err := testClient.Get(emuURL + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st emulator.Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	if n := st.TokenIssues[testAppID].Stable; n != 1 {
		t.Fatalf("two instances sharing storage fetched %d tokens, want 1", n)
	}
}

func TestOpenAPITokenModes(t *testing.T) {
	g := startGateway(t, "token_mode classic")
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if st := g.emu.Stats().TokenIssues[testAppID]; st.Classic != 1 || st.Stable != 0 {
		t.Fatalf("classic mode token issues %+v, want one /cgi-bin/token call", st)
	}
	// A classic token rejected by WeChat: one new /cgi-bin/token call, then
	// the call succeeds.
	g.emu.RevokeTokens(testAppID)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if st := g.emu.Stats().TokenIssues[testAppID]; st.Classic != 2 {
		t.Fatalf("after revoke: %+v, want 2 classic issues", st)
	}
}

func TestOpenAPIFixedAccessToken(t *testing.T) {
	g := startGateway(t, "access_token fixed-token-not-valid-at-wechat\n\t\t\tallow urllink.generate auth.getAccessToken")
	// The fixed token is used as given: WeChat's refusal comes back, and
	// nothing is fetched.
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 40001)
	if st := g.emu.Stats().TokenIssues[testAppID]; st.Classic+st.Stable != 0 {
		t.Fatalf("a fixed token config fetched tokens: %+v", st)
	}
	a := g.post("/wx/auth/getAccessToken", map[string]any{}).expect(t, 200, 0)
	if a.str("accessToken") != "fixed-token-not-valid-at-wechat" {
		t.Fatalf("getAccessToken: %s", a.raw)
	}
	g.post("/wx/auth/code2Session", map[string]any{"code": "c"}).expect(t, 403, "UNICLOUD_API_NOT_ALLOWED")
}

// A config that fails to load leaves the running config's storage in use:
// tokens keep going to the folder the cluster shares.
func TestOpenAPIRejectedReloadKeepsStorage(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_SECRET", testSecret)
	emu, _, emuURL := newEmulator(t, 0)
	shared, other := filepath.Join(t.TempDir(), "shared"), filepath.Join(t.TempDir(), "other")
	addr := freeAddr(t)
	cf := func(storage, extra string) string {
		return globalOptions(storage, "") + fmt.Sprintf(`
http://%s {
	handle_path /wx/* {
		%s
	}
}
`, addr, gatewayBlock(emuURL, extra))
	}
	loadCaddy(t, cf(shared, ""))
	g := &gateway{t: t, base: "http://" + addr}
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if err := caddy.Load(adaptCaddyfile(t, cf(other, "token_mode bogus")), true); err == nil {
		t.Fatal("a config with token_mode bogus loaded")
	}
	// The provider rejects the token: its replacement goes to the shared
	// folder, not to the rejected config's.
	emu.RevokeTokens(testAppID)
	g.post("/wx/urllink/generate", map[string]any{"path": "p"}).expect(t, 200, 0)
	if files, _ := filepath.Glob(filepath.Join(other, "unicloud", "tokens", "*.json")); len(files) != 0 {
		t.Fatalf("the rejected config's storage was used: %v", files)
	}
	files, _ := filepath.Glob(filepath.Join(shared, "unicloud", "tokens", "*.json"))
	if len(files) != 1 {
		t.Fatalf("shared storage holds %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	var stored struct {
		Value string `json:"value"`
	}
	_ = json.Unmarshal(raw, &stored)
	if st := emu.Stats().TokenIssues[testAppID]; st.Stable < 2 || stored.Value == "" {
		t.Fatalf("no replacement token stored in the shared folder (issues %+v)", st)
	}
}
