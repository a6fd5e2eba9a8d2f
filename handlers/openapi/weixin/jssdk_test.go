package weixin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/handlers/openapi"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

const testTicket = "kgt8ON7yVITDhtdwci0qeeFnS-ZPeKv2sTTE1zTZWVcbMTgNrHRbdcY6Ua5OJvKSRGE6Y9vKnkHZyEc8FyDrFA"

// ticketUpstream is a local WeChat for getConfig: the official account's
// token, and getticket answering refuse (when set) or testTicket.
type ticketUpstream struct {
	mu      sync.Mutex
	tickets int
	refuse  int64
	srv     *httptest.Server
}

func newTicketUpstream(tb testing.TB) *ticketUpstream {
	u := &ticketUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			_, _ = io.WriteString(w, `{"access_token":"oa-token-0123456789","expires_in":7200}`)
		case "/cgi-bin/ticket/getticket":
			u.mu.Lock()
			defer u.mu.Unlock()
			u.tickets++
			if r.URL.Query().Get("access_token") != "oa-token-0123456789" || r.URL.Query().Get("type") != "jsapi" {
				_, _ = io.WriteString(w, `{"errcode":40097,"errmsg":"invalid args"}`)
				return
			}
			if u.refuse != 0 {
				_, _ = fmt.Fprintf(w, `{"errcode":%d,"errmsg":"refused"}`, u.refuse)
				return
			}
			_, _ = fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","ticket":%q,"expires_in":7200}`, testTicket)
		default:
			http.NotFound(w, r)
		}
	}))
	tb.Cleanup(u.srv.Close)
	return u
}

func (u *ticketUpstream) fetches() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.tickets
}

func newJSSDKGateway(tb testing.TB, endpoint string, h5 bool) *openapi.OpenAPI {
	wx := &Weixin{AppID: "wx01", Secret: testSecret1, Endpoint: endpoint}
	if h5 {
		wx.H5AppID, wx.H5Secret = "wxoa01", "oa-secret-0123456789"
	}
	return newGateway(tb, &openapi.OpenAPI{}, wx)
}

// getConfig answers exactly wx.config's fields, signed with the ticket over
// the url without its fragment; the ticket is fetched once and never
// answered.
func TestJSSDKGetConfig(t *testing.T) {
	u := newTicketUpstream(t)
	h := newJSSDKGateway(t, u.srv.URL, true)
	page := "https://h5.example.com/shop/?from=%E5%BE%AE&x=1#/pages/cart"
	var nonces []string
	for _, path := range []string{"/h5/jssdk/getConfig", "/h5.jssdk.getConfig"} {
		before := time.Now().Unix()
		a := callOpenAPI(t, h, postJSON(path, fmt.Sprintf(`{"url":%q}`, page)))
		if a.status != 200 || a.code != float64(0) || a.msg != "ok" {
			t.Fatalf("%d %s", a.status, a.raw)
		}
		if bytes.Contains(a.raw, []byte(testTicket)) || bytes.Contains(a.raw, []byte("oa-token")) {
			t.Fatalf("answer holds a credential: %s", a.raw)
		}
		var got map[string]any
		dec := json.NewDecoder(bytes.NewReader(a.raw))
		dec.UseNumber()
		_ = dec.Decode(&got)
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if fmt.Sprint(keys) != "[appId errCode errMsg nonceStr signature timestamp url]" {
			t.Fatalf("fields %v", keys)
		}
		ts, err := got["timestamp"].(json.Number).Int64()
		if err != nil || ts < before || ts > time.Now().Unix() {
			t.Fatalf("timestamp %v", got["timestamp"])
		}
		nonce, _ := got["nonceStr"].(string)
		signed := "https://h5.example.com/shop/?from=%E5%BE%AE&x=1"
		if got["appId"] != "wxoa01" || got["url"] != signed || len(nonce) < 16 {
			t.Fatalf("answer %s", a.raw)
		}
		if want := weixin.JSSDKSignature(testTicket, nonce, ts, signed); got["signature"] != want {
			t.Fatalf("signature %v, want %s", got["signature"], want)
		}
		nonces = append(nonces, nonce)
	}
	if nonces[0] == nonces[1] {
		t.Fatal("the nonce was reused")
	}
	if n := u.fetches(); n != 1 {
		t.Fatalf("%d getticket calls, want 1", n)
	}
}

// Mistakes are the caller's (400 naming url, or the missing official
// account), and a ticket WeChat refuses is 502 naming jsapi_ticket and its
// errcode.
func TestJSSDKGetConfigErrors(t *testing.T) {
	u := newTicketUpstream(t)
	h := newJSSDKGateway(t, u.srv.URL, true)
	for body, want := range map[string]string{
		`{}`:                                 "url",
		`{"url":""}`:                         "url",
		`{"url":42}`:                         "url",
		`{"url":"/pages/index"}`:             "url",
		`{"url":"ftp://h5.example.com/"}`:    "url",
		`{"url":"javascript:alert(1)//x"}`:   "url",
		`{"url":"https:///no-host?x=1#top"}`: "url",
	} {
		a := callOpenAPI(t, h, postJSON("/h5.jssdk.getConfig", body))
		if a.status != 400 || a.code != "UNICLOUD_BAD_REQUEST" || !strings.Contains(a.msg, want) {
			t.Errorf("%s: %d %s", body, a.status, a.raw)
		}
	}
	if n := u.fetches(); n != 0 {
		t.Fatalf("getticket called for a bad request: %d", n)
	}

	noH5 := newJSSDKGateway(t, u.srv.URL, false)
	a := callOpenAPI(t, noH5, postJSON("/h5.jssdk.getConfig", `{"url":"https://h5.example.com/"}`))
	if a.status != 400 || a.code != "UNICLOUD_APP_NOT_FOUND" || !strings.Contains(a.msg, "h5_app_id") {
		t.Fatalf("without h5_app_id: %d %s", a.status, a.raw)
	}

	refused := newTicketUpstream(t)
	refused.refuse = 45009
	h = newJSSDKGateway(t, refused.srv.URL, true)
	a = callOpenAPI(t, h, postJSON("/h5.jssdk.getConfig", `{"url":"https://h5.example.com/"}`))
	if a.status != 502 || a.code != "UNICLOUD_TOKEN_UNAVAILABLE" || !strings.Contains(a.msg, "jsapi_ticket") || !strings.Contains(a.msg, "45009") {
		t.Fatalf("refused ticket: %d %s", a.status, a.raw)
	}
}

// BenchmarkJSSDKGetConfig is getConfig on a ticket hit: no provider call,
// only the signature and the answer.
func BenchmarkJSSDKGetConfig(b *testing.B) {
	u := newTicketUpstream(b)
	h := newJSSDKGateway(b, u.srv.URL, true)
	body := []byte(`{"url":"https://h5.example.com/shop/?from=menu#/pages/cart"}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/h5.jssdk.getConfig", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, nil); err != nil || w.Code != 200 {
			b.Fatalf("%d %v %s", w.Code, err, w.Body)
		}
	}
	if n := u.fetches(); n != 1 {
		b.Fatalf("%d getticket calls, want 1", n)
	}
}
