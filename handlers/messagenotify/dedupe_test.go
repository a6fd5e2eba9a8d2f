package messagenotify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// fakeProvider opens every POST body "id:<id>" as a message with that id.
type fakeProvider struct{}

func (fakeProvider) Name() string                            { return "fake" }
func (fakeProvider) VerifyURL(*http.Request) (string, error) { return "echo", nil }
func (fakeProvider) DedupeScope() string                     { return "wx0123" }
func (fakeProvider) Open(_ *http.Request, body []byte) (Message, error) {
	id, ok := strings.CutPrefix(string(body), "id:")
	if !ok {
		return nil, errors.New("not a message")
	}
	return fakeMessage(id), nil
}

type fakeMessage string

func (f fakeMessage) ID() string   { return string(f) }
func (fakeMessage) Type() string   { return "event" }
func (fakeMessage) Event() string  { return "xpay_goods_deliver_notify" }
func (f fakeMessage) JSON() []byte { return []byte(`{"id":"` + string(f) + `"}`) }
func (fakeMessage) Fail() Answer {
	return Answer{Status: 500, ContentType: "text/plain", Body: []byte("fail")}
}
func (fakeMessage) Respond(b []byte) (Answer, error) {
	return Answer{Status: 200, ContentType: "application/json", Body: append([]byte("ack:"), b...)}, nil
}

// hookStorage is a file storage whose Load can be broken.
type hookStorage struct {
	*certmagic.FileStorage
	brokenGet atomic.Bool
}

func (s *hookStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if s.brokenGet.Load() {
		return nil, errors.New("storage down")
	}
	return s.FileStorage.Load(ctx, key)
}

func newDedupe(t *testing.T, st certmagic.Storage, now func() time.Time) *MessageNotify {
	t.Helper()
	return &MessageNotify{
		Dedupe:   60_000_000_000, // 1 minute
		MaxBody:  DefaultMaxBody,
		provider: fakeProvider{},
		storage:  st,
		logger:   zap.NewNop(),
		now:      now,
	}
}

func push(t *testing.T, m *MessageNotify, body string, next caddyhttp.Handler) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/wx/push?signature=x", strings.NewReader(body))
	if err := m.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w
}

// backend counts deliveries and answers "took <id>".
type backend struct {
	n      atomic.Int32
	status int
	hold   chan struct{} // when set, the first delivery waits on it
	in     chan struct{} // told of each delivery
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n := b.n.Add(1)
	body, _ := io.ReadAll(r.Body)
	if b.in != nil {
		b.in <- struct{}{}
	}
	if n == 1 && b.hold != nil {
		<-b.hold
	}
	if b.status != 0 {
		w.WriteHeader(b.status)
	}
	_, _ = w.Write(append([]byte("took "), body...))
	return nil
}

func TestDedupeAnswersARetryFromTheRecord(t *testing.T) {
	now := time.Unix(1700000000, 0)
	m := newDedupe(t, &certmagic.FileStorage{Path: t.TempDir()}, func() time.Time { return now })
	be := &backend{}
	first := push(t, m, "id:1", be)
	again := push(t, m, "id:1", be)
	if be.n.Load() != 1 || first.Code != 200 || again.Body.String() != first.Body.String() {
		t.Fatalf("deliveries %d; first %d %q, retry %q", be.n.Load(), first.Code, first.Body, again.Body)
	}
	if other := push(t, m, "id:2", be); be.n.Load() != 2 || other.Code != 200 {
		t.Fatalf("another message was not delivered: %d", be.n.Load())
	}
	// Past the dedupe window the record is gone: delivered again.
	now = now.Add(61 * time.Second)
	push(t, m, "id:1", be)
	if be.n.Load() != 3 {
		t.Fatalf("an expired record still answered: %d deliveries", be.n.Load())
	}
}

// A push the backend did not take is not recorded: WeChat's retry reaches
// the backend again.
func TestDedupeDoesNotRecordAFailure(t *testing.T) {
	m := newDedupe(t, &certmagic.FileStorage{Path: t.TempDir()}, time.Now)
	be := &backend{status: 503}
	if w := push(t, m, "id:1", be); w.Code != 500 {
		t.Fatalf("a refused push was answered %d", w.Code)
	}
	be.status = 0
	if w := push(t, m, "id:1", be); w.Code != 200 || be.n.Load() != 2 {
		t.Fatalf("the retry of a failed push: %d, %d deliveries", w.Code, be.n.Load())
	}
}

// WeChat retries a push after 5 s without an answer: a retry arriving
// while the backend is still on the first copy finds no record and is
// forwarded (WeChat gave up on the first answer); the next retry after the
// backend took it is answered from the record.
func TestDedupeRetryDuringSlowDelivery(t *testing.T) {
	st := &hookStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}}
	m := newDedupe(t, st, time.Now)
	be := &backend{hold: make(chan struct{}), in: make(chan struct{}, 4)}
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, 2)
	wg.Add(1)
	go func() { defer wg.Done(); answers[0] = push(t, m, "id:7", be) }()
	<-be.in // the first copy is in the backend
	wg.Add(1)
	go func() { defer wg.Done(); answers[1] = push(t, m, "id:7", be) }()
	<-be.in // the retry reaches the backend too, while the first is held
	close(be.hold)
	wg.Wait()
	if n := be.n.Load(); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
	if answers[0].Code != 200 || answers[1].Code != 200 {
		t.Fatalf("answers %d %q / %d %q", answers[0].Code, answers[0].Body, answers[1].Code, answers[1].Body)
	}
	if w := push(t, m, "id:7", be); w.Code != 200 || w.Body.String() != answers[0].Body.String() || be.n.Load() != 2 {
		t.Fatalf("a later retry: %d %q, %d deliveries", w.Code, w.Body, be.n.Load())
	}
}

// A storage that cannot be read does not lose pushes: they are forwarded
// as without dedupe.
func TestDedupeBrokenStorageForwards(t *testing.T) {
	st := &hookStorage{FileStorage: &certmagic.FileStorage{Path: t.TempDir()}}
	m := newDedupe(t, st, time.Now)
	be := &backend{}
	push(t, m, "id:1", be)
	st.brokenGet.Store(true)
	if w := push(t, m, "id:1", be); w.Code != 200 || be.n.Load() != 2 {
		t.Fatalf("storage unreadable: %d, %d deliveries", w.Code, be.n.Load())
	}
	st.brokenGet.Store(false)
	if w := push(t, m, "id:3", be); w.Code != 200 || be.n.Load() != 3 {
		t.Fatalf("a new id: %d, %d deliveries", w.Code, be.n.Load())
	}
	// A corrupt record is not an answer.
	if err := st.Store(context.Background(), m.dedupeKey("9"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if w := push(t, m, "id:9", be); w.Code != 200 || be.n.Load() != 4 {
		t.Fatalf("corrupt record: %d, %d deliveries", w.Code, be.n.Load())
	}
}

// Message ids map to storage keys inside the account's folder, whatever
// they hold.
func TestDedupeKey(t *testing.T) {
	m := newDedupe(t, nil, time.Now)
	for id, want := range map[string]string{
		"123":       "unicloud/message_notify/wx0123/123",
		"evt-ab12":  "unicloud/message_notify/wx0123/evt-ab12",
		"../../etc": "unicloud/message_notify/wx0123/______etc",
		"a/b":       "unicloud/message_notify/wx0123/a_b",
		"0":         "unicloud/message_notify/wx0123/0",
	} {
		if got := m.dedupeKey(id); got != want {
			t.Errorf("dedupeKey(%q) = %q, want %q", id, got, want)
		}
	}
}
