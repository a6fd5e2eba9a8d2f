package weixin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded/boundedtest"
)

// An answer that declares 1 GiB is refused on the declaration (API calls
// and token fetches alike): the call fails at once, not at the timeout.
func TestAnswerDeclaredTooLarge(t *testing.T) {
	srv := httptest.NewServer(boundedtest.Lying(t, "application/json"))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &Client{Endpoint: srv.URL, HTTP: srv.Client()}
	api, _ := Lookup("urllink.generate")
	for name, call := range map[string]func() error{
		"api call": func() error {
			_, err := c.Do(ctx, &Request{API: api, Params: map[string]any{}, Token: "t"})
			return err
		},
		"token": func() error {
			_, err := c.FetchStableToken(ctx, "wx1", "s", false)
			return err
		},
	} {
		err := call()
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.Timeout || !strings.Contains(ue.Reason, "declares 1073741824 bytes") {
			t.Errorf("%s: err %v, want the declared length refused", name, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: waited for the timeout", name)
		}
	}
}

// A chunked answer (no Content-Length) is still bounded while read.
func TestAnswerChunkedTooLarge(t *testing.T) {
	srv := httptest.NewServer(nil)
	defer srv.Close()
	srv.Config.Handler = chunked(strings.Repeat("x", 2048))
	c := &Client{Endpoint: srv.URL, HTTP: srv.Client(), MaxAnswer: 1024}
	api, _ := Lookup("urllink.generate")
	_, err := c.Do(context.Background(), &Request{API: api, Params: map[string]any{}, Token: "t"})
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.Reason, "over the 1 KiB limit") {
		t.Fatalf("err %v", err)
	}
}

type chunked string

func (s chunked) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	for i := 0; i < len(s); i += 256 {
		_, _ = w.Write([]byte(s[i:min(i+256, len(s))]))
		w.(http.Flusher).Flush()
	}
}
