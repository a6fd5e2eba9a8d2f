package inbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func TestReadBody(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		length     int64 // the declared Content-Length; -1 unknown
		wantBody   string
		wantCheck  string
		wantStatus int
		wantReason string
	}{
		{"fits", "hello", 5, "hello", "", 0, ""},
		{"at the limit", "12345678", 8, "12345678", "", 0, ""},
		{"declared over", "123456789", 9, "", CheckBodyTooLarge, 413, "body of 9 bytes is over max_body 8"},
		{"chunked over", "123456789", -1, "", CheckBodyTooLarge, 413, "body is over max_body 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.ContentLength = tt.length
			body, ref := ReadBody(httptest.NewRecorder(), r, 8, "malformed")
			if tt.wantCheck == "" {
				if ref != nil || string(body) != tt.wantBody {
					t.Fatalf("got %q, %v; want %q", body, ref, tt.wantBody)
				}
				return
			}
			if ref == nil || ref.NotifyCheck() != tt.wantCheck || ref.HTTPStatus() != tt.wantStatus || ref.Error() != tt.wantReason {
				t.Fatalf("refusal %v, want %s %d %q", ref, tt.wantCheck, tt.wantStatus, tt.wantReason)
			}
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(errReader{}))
	r.ContentLength = -1
	if _, ref := ReadBody(httptest.NewRecorder(), r, 8, "body"); ref == nil || ref.NotifyCheck() != "body" || ref.HTTPStatus() != 400 {
		t.Fatalf("unreadable body: %v, want the read check with 400", ref)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestBackendStatus(t *testing.T) {
	tests := []struct {
		name    string
		written int
		err     error
		want    int
	}{
		{"nothing written", 0, nil, 200},
		{"written", 202, nil, 202},
		{"handler error", 0, caddyhttp.Error(503, errors.New("down")), 503},
		{"handler error without status", 200, caddyhttp.HandlerError{Err: errors.New("x")}, 502},
		{"other error", 200, errors.New("dial"), 502},
	}
	for _, tt := range tests {
		if got := BackendStatus(tt.written, tt.err); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestStripReserved(t *testing.T) {
	h := http.Header{"X-Unicloud-Provider": {"forged"}, "X-Unicloud-Signature": {"forged"}, "X-Unicloud": {"kept"}, "Accept": {"*/*"}}
	h["x-unicloud-event"] = []string{"forged"} // not canonical
	StripReserved(h)
	if len(h) != 2 || h.Get("X-Unicloud") != "kept" || h.Get("Accept") != "*/*" {
		t.Fatalf("left %v", h)
	}
}

func TestRemoteHost(t *testing.T) {
	for addr, want := range map[string]string{"192.0.2.1:1234": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "pipe": "pipe"} {
		if got := RemoteHost(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

type skewRefusal struct{ Refusal }

func (skewRefusal) LogFields() []zap.Field { return []zap.Field{zap.String("skew", "10m")} }

func TestRefusalFields(t *testing.T) {
	r := &http.Request{RemoteAddr: "192.0.2.1:1234"}
	got := map[string]any{}
	for _, f := range RefusalFields("weixin", skewRefusal{Refuse("stale", 401, "too old")}, r) {
		if f.String != "" {
			got[f.Key] = f.String
		} else {
			got[f.Key] = f.Integer
		}
	}
	want := map[string]any{"provider": "weixin", "check": "stale", "status": int64(401), "reason": "too old", "remote_ip": "192.0.2.1", "skew": "10m"}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// Write: a 204 goes out with no Content-Type and no body; another answer
// with its Content-Type and Content-Length, never cached.
func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", "text/html")
	Write(w, http.StatusNoContent, "", nil)
	if w.Code != 204 || w.Header().Get("Content-Type") != "" || w.Header().Get("Content-Length") != "" || w.Body.Len() != 0 {
		t.Fatalf("204: %d %v %q", w.Code, w.Header(), w.Body.String())
	}
	w = httptest.NewRecorder()
	Write(w, 200, "text/plain; charset=utf-8", []byte("success"))
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Header().Get("Content-Length") != "7" ||
		w.Header().Get("Cache-Control") != "no-store" || w.Body.String() != "success" {
		t.Fatalf("200: %d %v %q", w.Code, w.Header(), w.Body.String())
	}
}
