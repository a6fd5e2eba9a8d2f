package redisstorage

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func TestStorageRoundTripAndLocks(t *testing.T) {
	mr := miniredis.RunT(t)
	a, b := New(mr.Addr()), New(mr.Addr())
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	ctx := context.Background()

	if _, err := a.Load(ctx, "x/y"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v, want fs.ErrNotExist", err)
	}
	if err := a.Store(ctx, "x/y", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Load(ctx, "x/y"); err != nil || string(v) != "v" {
		t.Fatalf("load: %q, %v", v, err)
	}
	if keys, err := b.List(ctx, "x", false); err != nil || len(keys) != 1 || keys[0] != "x/y" {
		t.Fatalf("list: %v, %v", keys, err)
	}
	if ki, err := b.Stat(ctx, "x/y"); err != nil || ki.Size != 1 || !ki.IsTerminal {
		t.Fatalf("stat: %+v, %v", ki, err)
	}

	// A held lock makes the other holder wait until its context ends.
	if err := a.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := b.Lock(short, "l"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock held by another: %v", err)
	}
	if ttl := mr.TTL(a.LockKey("l")); ttl <= 0 || ttl > DefaultLockExpiry {
		t.Fatalf("lock expiry %v", ttl)
	}
	if err := b.Unlock(ctx, "l"); err == nil {
		t.Fatal("unlocked a lock another holder took")
	}
	if err := a.Unlock(ctx, "l"); err != nil || mr.Exists(a.LockKey("l")) {
		t.Fatalf("unlock: %v", err)
	}
	if err := b.Lock(ctx, "l"); err != nil {
		t.Fatal(err)
	}

	// Redis down: errors at once, not waits.
	mr.Close()
	if err := a.Lock(ctx, "m"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock with Redis down: %v", err)
	}
}
