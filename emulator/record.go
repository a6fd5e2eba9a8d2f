package emulator

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// MaxRecordedBody bounds the part of a request body Config.Record is given;
// the emulator itself still reads the whole body, within its own bounds.
const MaxRecordedBody = 8 << 20

// record hands r and the start of its body to Config.Record, and puts the
// body back for the handler.
func (s *Server) record(r *http.Request) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxRecordedBody))
		if err != nil {
			body = nil
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	}
	s.cfg.Record(r, body)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Recorded is one request the emulator received.
type Recorded struct {
	Method string
	// Path is the request's path (/pay/unifiedorder), Query its query.
	Path  string
	Query url.Values
	// Header is a copy of the request's header.
	Header http.Header
	// Body is the request body, or its first MaxRecordedBody bytes.
	Body []byte
	// ClientCert is the CommonName of the client certificate the TLS
	// layer verified, or empty.
	ClientCert string
}

// Recorder keeps the requests an emulator receives, for tests that check
// what the provider was sent: New(Config{Record: rec.Record, …}). It is
// safe for concurrent use; its zero value is ready.
type Recorder struct {
	mu   sync.Mutex
	reqs []Recorded
}

// maxRecorded bounds how many requests a Recorder keeps (the oldest go).
const maxRecorded = 10000

// Record keeps r; it is a Config.Record.
func (rec *Recorder) Record(r *http.Request, body []byte) {
	got := Recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(),
		Body: append([]byte(nil), body...),
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		got.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) >= maxRecorded {
		rec.reqs = append(rec.reqs[:0], rec.reqs[1:]...)
	}
	rec.reqs = append(rec.reqs, got)
}

// Requests returns the requests received for path, oldest first; every
// request when path is empty.
func (rec *Recorder) Requests(path string) []Recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []Recorded
	for _, r := range rec.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Count is how many requests were received for path.
func (rec *Recorder) Count(path string) int { return len(rec.Requests(path)) }

// Last returns the last request received for path.
func (rec *Recorder) Last(path string) (Recorded, bool) {
	all := rec.Requests(path)
	if len(all) == 0 {
		return Recorded{}, false
	}
	return all[len(all)-1], true
}

// Fields reads a WeChat Pay v2 request body (its flat <xml> document) into
// its fields, as the emulator reads it; nil when it is not one.
func (r Recorded) Fields() map[string]string {
	f, err := readWxpayXML(r.Body)
	if err != nil {
		return nil
	}
	return f
}

// Form reads a form body (an Alipay gateway request) merged with the
// query; nil when the body is not a form.
func (r Recorded) Form() url.Values {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return nil
	}
	for k, vs := range r.Query {
		q[k] = append(q[k], vs...)
	}
	return q
}
