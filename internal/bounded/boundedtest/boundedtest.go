// Package boundedtest is a fake provider for tests of answer size limits: it
// declares a huge Content-Length, sends a few bytes and then holds the
// connection open, as a broken or hostile upstream would.
package boundedtest

import (
	"net/http"
	"strconv"
	"testing"
)

// Declared is the Content-Length the fake announces: 1 GiB.
const Declared = 1 << 30

// Lying returns a handler that answers HTTP 200 with contentType, a
// Content-Length of Declared and only a few bytes, then waits until the test
// ends. A client that trusts the declaration and reads on blocks until its
// own timeout; one that refuses it returns at once.
func Lying(t testing.TB, contentType string) http.HandlerFunc {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(Declared))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"errcode":0,`))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}
}
