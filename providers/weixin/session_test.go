package weixin

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

// A session key another instance stored is read back from the shared
// storage while it is valid, and is absent once past its expiry, even
// though the storage still holds it.
func TestSessionKeyFromStoragePastExpiry(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	newKeys := func() *SessionKeys {
		s, err := NewSessionKeys(st)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		s.now = c.now
		s.TTL = time.Hour
		return s
	}
	login := newKeys()
	login.Put(ctx, "wx01", "openid-1", "session-key-1")

	for _, tc := range []struct {
		name  string
		after time.Duration
		found bool
	}{
		{"just stored", 0, true},
		{"a second before expiry", time.Hour - time.Second, true},
		{"at expiry", time.Hour, false},
		{"long after", 30 * 24 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := c.now()
			c.add(tc.after)
			defer func() { c.mu.Lock(); c.t = saved; c.mu.Unlock() }()
			// A fresh instance: nothing in memory, only the storage.
			other := newKeys()
			if raw, err := st.Load(ctx, sessionStorageKey(sessionID("wx01", "openid-1"))); err != nil || len(raw) == 0 {
				t.Fatalf("the storage does not hold the session: %v", err)
			}
			k, ok := other.Get(ctx, "wx01", "openid-1")
			if ok != tc.found || (ok && k != "session-key-1") || (!ok && k != "") {
				t.Fatalf("Get = %q, %v; want found %v", k, ok, tc.found)
			}
		})
	}
	if _, ok := newKeys().Get(ctx, "wx01", "openid-2"); ok {
		t.Fatal("another openid's session was found")
	}
}

// A session record past its expiry in the shared storage (written by an
// instance whose clock has moved on, or kept by a storage that never
// deletes) is absent, is not taken into memory, and a new login replaces
// it.
func TestSessionKeyExpiredRecordNotServed(t *testing.T) {
	ctx := context.Background()
	st := &certmagic.FileStorage{Path: t.TempDir()}
	c := &clock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	s, err := NewSessionKeys(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.now = c.now
	id := sessionID("wx01", "openid-1")
	for _, rec := range []string{
		`{"session_key":"old-key","expires_at":"2026-05-06T07:08:08Z"}`, // a second ago
		`{"session_key":"old-key","expires_at":"2026-05-06T07:08:09Z"}`, // now
		`{"session_key":"old-key"}`,                                     // no expiry: never valid
		`{"session_key":"","expires_at":"2027-01-01T00:00:00Z"}`,        // no key
		`not json`,
	} {
		if err := st.Store(ctx, sessionStorageKey(id), []byte(rec)); err != nil {
			t.Fatal(err)
		}
		if k, ok := s.Get(ctx, "wx01", "openid-1"); ok || k != "" {
			t.Fatalf("%s: Get = %q, %v; want absent", rec, k, ok)
		}
		if k, ok := s.cache.Get(id); ok {
			t.Fatalf("%s: the refused key %q was taken into memory", rec, k)
		}
	}
	// A new login replaces the expired record.
	s.TTL = time.Hour
	s.Put(ctx, "wx01", "openid-1", "new-key")
	s.cache.Clear()
	if k, ok := s.Get(ctx, "wx01", "openid-1"); !ok || k != "new-key" {
		t.Fatalf("after a new login: Get = %q, %v", k, ok)
	}
}
