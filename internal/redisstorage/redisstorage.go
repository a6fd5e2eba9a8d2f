// Package redisstorage is a certmagic.Storage over Redis for the tests: it
// keeps values in Redis and locks with SET NX PX, as Caddy's Redis storage
// modules do, so the tests can run a cluster on a Redis (miniredis).
package redisstorage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// DefaultLockExpiry is how long a lock lives when its holder dies without
// releasing it, as in the Redis storage modules for Caddy.
const DefaultLockExpiry = 60 * time.Second

// Storage keeps certmagic's keys in one Redis database.
type Storage struct {
	Client *redis.Client
	// Prefix is put before every key (default "caddy/").
	Prefix string
	// LockExpiry is the life of a lock nobody releases (default
	// DefaultLockExpiry).
	LockExpiry time.Duration
	// LockPoll is how often a waiting Lock tries again (default 20 ms).
	LockPoll time.Duration

	mu    sync.Mutex
	owned map[string]string // lock name -> this holder's value
}

// New makes a storage on the Redis at addr (host:port), with short
// timeouts: a Redis that is down answers an error at once.
func New(addr string) *Storage {
	return &Storage{Client: redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		MaxRetries:   -1,
		// One dial per command: a Redis that is down fails fast.
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
	})}
}

func (s *Storage) prefix() string {
	if s.Prefix == "" {
		return "caddy/"
	}
	return s.Prefix
}

func (s *Storage) dataKey(key string) string { return s.prefix() + "data/" + key }

// LockKey is the Redis key of the lock called name (tests set it to play a
// holder that died).
func (s *Storage) LockKey(name string) string { return s.prefix() + "locks/" + name }

// Lock takes the lock called name, waiting until it is free or ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	val := hex.EncodeToString(b)
	expiry := s.LockExpiry
	if expiry <= 0 {
		expiry = DefaultLockExpiry
	}
	poll := s.LockPoll
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}
	for {
		ok, err := s.Client.SetNX(ctx, s.LockKey(name), val, expiry).Result()
		if err != nil {
			return fmt.Errorf("redis lock %s: %w", name, err)
		}
		if ok {
			s.mu.Lock()
			if s.owned == nil {
				s.owned = make(map[string]string)
			}
			s.owned[name] = val
			s.mu.Unlock()
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("redis lock %s is held: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

// unlock deletes the lock only if this holder still owns it.
var unlock = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

// Unlock releases the lock called name if this holder took it.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	val, ok := s.owned[name]
	delete(s.owned, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("redis unlock %s: not held", name)
	}
	return unlock.Run(ctx, s.Client, []string{s.LockKey(name)}, val).Err()
}

// Store saves value at key.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.Client.HSet(ctx, s.dataKey(key), "value", value, "modified", time.Now().UnixNano()).Err()
}

// Load returns the value at key, or fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Client.HGet(ctx, s.dataKey(key), "value").Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fs.ErrNotExist
	}
	return v, err
}

// Delete removes key.
func (s *Storage) Delete(ctx context.Context, key string) error {
	n, err := s.Client.Del(ctx, s.dataKey(key)).Result()
	if err == nil && n == 0 {
		return fs.ErrNotExist
	}
	return err
}

// Exists reports whether key exists.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	n, err := s.Client.Exists(ctx, s.dataKey(key)).Result()
	return err == nil && n > 0
}

// List returns the keys under path.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	base := s.dataKey(strings.TrimSuffix(path, "/") + "/")
	var keys []string
	seen := map[string]bool{}
	iter := s.Client.Scan(ctx, 0, base+"*", 100).Iterator()
	for iter.Next(ctx) {
		rest := strings.TrimPrefix(iter.Val(), base)
		if !recursive {
			rest, _, _ = strings.Cut(rest, "/")
		}
		k := strings.TrimSuffix(path, "/") + "/" + rest
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	return keys, nil
}

// Stat describes key.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	vals, err := s.Client.HMGet(ctx, s.dataKey(key), "value", "modified").Result()
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	v, ok := vals[0].(string)
	if !ok {
		return certmagic.KeyInfo{}, fs.ErrNotExist
	}
	m, _ := vals[1].(string)
	nanos, _ := strconv.ParseInt(m, 10, 64)
	return certmagic.KeyInfo{Key: key, Modified: time.Unix(0, nanos), Size: int64(len(v)), IsTerminal: true}, nil
}

// Close closes the connections.
func (s *Storage) Close() error { return s.Client.Close() }

var _ certmagic.Storage = (*Storage)(nil)
