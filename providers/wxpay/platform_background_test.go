package wxpay_test

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The background refresh downloads FirstDownload after Start, then every
// RefreshInterval, and stops with its context.
func TestPlatformStoreBackgroundRefresh(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	s.FirstDownload = 20 * time.Second
	s.RefreshInterval = 3 * time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	ft := newFakeTimers(t, ctx, s)
	s.Start(ctx)
	want := []time.Duration{s.FirstDownload, s.RefreshInterval, s.RefreshInterval}
	for i, w := range want {
		d, result := ft.tick()
		if d != w || result != "ok" {
			t.Fatalf("background download %d: after %v (want %v), %s", i+1, d, w, result)
		}
		if n := f.downloads.Load(); n != int32(i+1) {
			t.Fatalf("%d downloads after %d background refreshes", n, i+1)
		}
		wantKey(t, s, serialA, nil)
		// The loop asks for its next wait before the clock moves on.
		if d := ft.wait(); d != s.RefreshInterval {
			t.Fatalf("wait after background download %d: %v", i+1, d)
		}
		clock.Add(s.RefreshInterval)
	}
	// Waiting for the next one, the refresh stops with its context and
	// downloads nothing more.
	cancel()
	ft.stopped()
	if n := f.downloads.Load(); n != 3 {
		t.Fatalf("%d downloads, want 3", n)
	}
}

// After a failed download the background refresh retries every Retry.
func TestPlatformStoreBackgroundRetry(t *testing.T) {
	ca := newTestCA(t, keyCA, "Test Root CA")
	a := newPlatformCert(t, ca, keyPlatformA, serialA, yesterday, nextYear)
	f := newCertFake(t, a, entryOf(a))
	f.apiV3Key = "ffffffffffffffffffffffffffffffff" // every download refused
	s := autoStore(t, f, nil)
	clock := newTestClock(time.Now())
	s.SetClock(clock.Now)
	f.set(func(f *wxpayFake) { f.now = clock.Now })
	s.FirstDownload = 10 * time.Second
	s.Retry = 30 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ft := newFakeTimers(t, ctx, s)
	s.Start(ctx)
	for i, w := range []time.Duration{s.FirstDownload, s.Retry, s.Retry} {
		d, result := ft.tick()
		if d != w || result != "error" {
			t.Fatalf("background download %d: after %v (want %v), %s", i+1, d, w, result)
		}
		if d := ft.wait(); d != s.Retry {
			t.Fatalf("wait after failed download %d: %v", i+1, d)
		}
		clock.Add(s.Retry)
	}
	// The downloads fixed, the next retry succeeds and the refresh goes
	// back to RefreshInterval.
	f.set(func(f *wxpayFake) { f.apiV3Key = ptAPIv3Key })
	if d, result := ft.tick(); d != s.Retry || result != "ok" {
		t.Fatalf("retry after %v: %s", d, result)
	}
	if d := ft.wait(); d != s.RefreshInterval {
		t.Fatalf("wait after a good download %v, want %v", d, s.RefreshInterval)
	}
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}
