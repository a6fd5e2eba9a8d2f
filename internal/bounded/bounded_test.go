package bounded_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
	"github.com/caddy-unicloud/unicloud/internal/bounded/boundedtest"
)

func TestReadBody(t *testing.T) {
	for name, tc := range map[string]struct {
		declared int64 // -1: unknown (chunked)
		body     string
		limit    int64
		want     string // body read, or the error text
		tooLarge bool
	}{
		"within":                    {declared: 5, body: "hello", limit: 5, want: "hello"},
		"chunked within":            {declared: -1, body: "hello", limit: 5, want: "hello"},
		"declared over":             {declared: 6, body: "hello!", limit: 5, want: "answer declares 6 bytes (Content-Length), over the 5 bytes limit", tooLarge: true},
		"chunked over":              {declared: -1, body: "hello!", limit: 5, want: "answer over the 5 bytes limit", tooLarge: true},
		"declared 1 GiB":            {declared: 1 << 30, body: "{", limit: 16 << 20, want: "answer declares 1073741824 bytes (Content-Length), over the 16 MiB limit", tooLarge: true},
		"empty":                     {declared: 0, body: "", limit: 5, want: ""},
		"declared under, more sent": {declared: -1, body: strings.Repeat("x", 100), limit: 10, want: "answer over the 10 bytes limit", tooLarge: true},
	} {
		t.Run(name, func(t *testing.T) {
			resp := &http.Response{ContentLength: tc.declared, Body: io.NopCloser(strings.NewReader(tc.body))}
			b, err := bounded.ReadBody(resp, tc.limit)
			if errors.Is(err, bounded.ErrTooLarge) != tc.tooLarge {
				t.Fatalf("err = %v, too large %v", err, tc.tooLarge)
			}
			got := string(b)
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReadBodyDeclaredHugeFailsFast: a server that declares 1 GiB and then
// sends a few bytes and stalls is refused at once, not after the client's
// timeout.
func TestReadBodyDeclaredHugeFailsFast(t *testing.T) {
	srv := httptest.NewServer(boundedtest.Lying(t, "application/json"))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = bounded.ReadBody(resp, 16<<20)
	var tl *bounded.TooLargeError
	if !errors.As(err, &tl) || tl.Declared != boundedtest.Declared {
		t.Fatalf("err = %v, want the declared length refused", err)
	}
	if ctx.Err() != nil {
		t.Fatal("waited for the timeout")
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		2 << 20: "2 MiB", 2000000: "2 MB", 1 << 10: "1 KiB", 1500: "1500 bytes", 3000: "3 kB", 7: "7 bytes",
	} {
		if got := bounded.Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
