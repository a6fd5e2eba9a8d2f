package unicloud

// Helpers of the acceptance checks (acceptance_*_test.go): written from
// the contract's text alone, each runs a real Caddy loaded from a Caddyfile,
// with the offline unicloud_emulator as the provider. A small recording
// proxy (qaProxy) sits between the gateway and the emulator's site, so the
// checks see the exact provider requests and answers (and, for a few
// checks, change an answer).

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
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

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// ---------------------------------------------------------------------------
// The recording proxy.

type qaExchange struct {
	Method   string
	Path     string
	Query    url.Values
	Form     url.Values // query and form body together
	ReqBody  []byte
	Status   int
	RespBody []byte
}

// qaProxy forwards every request to the emulator's site and records it.
// override, when set, answers a request itself; rewrite, when set, changes
// the emulator's answer before the gateway gets it.
type qaProxy struct {
	url    string
	target string

	mu       sync.Mutex
	ex       []qaExchange
	override func(e *qaExchange) (int, []byte, bool)
	rewrite  func(e *qaExchange, body []byte) []byte
}

func newQAProxy(t *testing.T, target string) *qaProxy {
	p := &qaProxy{target: target}
	// No kept-alive connections: a reload of the Caddy that serves the
	// emulator closes idle connections, and a POST on one is not retried.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := qaExchange{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), ReqBody: body}
		e.Form = url.Values{}
		for k, v := range e.Query {
			e.Form[k] = v
		}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if f, err := url.ParseQuery(string(body)); err == nil {
				for k, v := range f {
					e.Form[k] = append(e.Form[k], v...)
				}
			}
		}
		p.mu.Lock()
		override, rewrite := p.override, p.rewrite
		p.mu.Unlock()
		if override != nil {
			if status, answer, ok := override(&e); ok {
				e.Status, e.RespBody = status, answer
				p.add(e)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write(answer)
				return
			}
		}
		req, _ := http.NewRequest(r.Method, "http://"+p.target+r.URL.RequestURI(), bytes.NewReader(body))
		for k, vs := range r.Header {
			req.Header[k] = vs
		}
		resp, err := client.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if rewrite != nil {
			answer = rewrite(&e, answer)
		}
		e.Status, e.RespBody = resp.StatusCode, answer
		p.add(e)
		for k, vs := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *qaProxy) add(e qaExchange) {
	p.mu.Lock()
	p.ex = append(p.ex, e)
	p.mu.Unlock()
}

func (p *qaProxy) set(override func(e *qaExchange) (int, []byte, bool), rewrite func(e *qaExchange, body []byte) []byte) {
	p.mu.Lock()
	p.override, p.rewrite = override, rewrite
	p.mu.Unlock()
}

// all is every exchange so far whose path is path ("" for every one).
func (p *qaProxy) all(path string) []qaExchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []qaExchange
	for _, e := range p.ex {
		if path == "" || e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

func (p *qaProxy) count(path string) int { return len(p.all(path)) }

// last is the last exchange with path; it fails when there is none.
func (p *qaProxy) last(t *testing.T, path string) qaExchange {
	t.Helper()
	ex := p.all(path)
	if len(ex) == 0 {
		t.Fatalf("no request to %s reached the provider", path)
	}
	return ex[len(ex)-1]
}

// alipayCalls is every Alipay gateway call with that method.
func (p *qaProxy) alipayCalls(method string) []qaExchange {
	var out []qaExchange
	for _, e := range p.all("/gateway.do") {
		if e.Form.Get("method") == method {
			out = append(out, e)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Small helpers.

// qaPost posts a JSON body and decodes the answer (numbers as json.Number).
func qaPost(t *testing.T, u, body string, header ...string) (int, map[string]any, []byte) {
	t.Helper()
	return qaDo(t, http.MethodPost, u, "application/json", body, header...)
}

func qaDo(t *testing.T, method, u, contentType, body string, header ...string) (int, map[string]any, []byte) {
	t.Helper()
	r := testSend(t, method, u, headerPairs(contentType, header...), []byte(body))
	m, _ := jsonNumbers(r.Body)
	return r.Status, m, r.Body
}

func qaJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func qaStr(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// qaWant checks status and errCode (compared as text).
func qaWant(t *testing.T, what string, status int, m map[string]any, raw []byte, wantStatus int, wantCode any) bool {
	t.Helper()
	if status != wantStatus || fmt.Sprint(m["errCode"]) != fmt.Sprint(wantCode) {
		t.Errorf("%s: %d %s, want %d errCode %v", what, status, raw, wantStatus, wantCode)
		return false
	}
	return true
}

// qaNoneOf fails when raw holds any of secrets.
func qaNoneOf(t *testing.T, what string, raw []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && bytes.Contains(raw, []byte(s)) {
			t.Errorf("%s holds a secret or token (%.12s…): %s", what, s, raw)
		}
	}
}

func qaJSONField(raw []byte, path ...string) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func qaXMLFields(raw []byte) map[string]string {
	var doc struct {
		Items []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	_ = xml.Unmarshal(raw, &doc)
	out := map[string]string{}
	for _, it := range doc.Items {
		out[it.XMLName.Local] = it.Value
	}
	return out
}

func qaKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// qaValidate adapts and validates a Caddyfile (what `caddy validate` does);
// the error is the adapter's or the provisioning's.
func qaValidate(t *testing.T, caddyfile string) error {
	t.Helper()
	js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

func qaWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
