package messagenotify

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

// dedupeRecord is what the storage holds for a message the backend took:
// its answer (the backend's own bytes: a passive reply is rebuilt and
// encrypted afresh for each retry's envelope) and when the record expires.
type dedupeRecord struct {
	Expires int64  `json:"expires"`
	Answer  []byte `json:"answer"`
}

// dedupeKey is the storage key of a message id, under
// unicloud/message_notify/<scope>/.
func (m *MessageNotify) dedupeKey(id string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '_'
		}, s)
	}
	return path.Join("unicloud", "message_notify", clean(m.provider.DedupeScope()), clean(id))
}

// claimWait bounds how long a push waits for another delivery of the same
// message (on this or another instance) to finish. A holder that takes
// longer, or a storage that cannot lock, does not hold the push back: it is
// forwarded, as without dedupe.
const claimWait = 10 * time.Second

// claim takes the storage lock of a message id, so that one delivery of a
// message at a time reaches the backend; release gives it back. gone
// reports that the caller hung up while waiting (nothing is to be
// forwarded then).
func (m *MessageNotify) claim(r *http.Request, id string) (release func(), gone bool) {
	name := m.dedupeKey(id) + ".lock"
	ctx, cancel := context.WithTimeout(r.Context(), claimWait)
	defer cancel()
	if err := m.storage.Lock(ctx, name); err != nil {
		if r.Context().Err() != nil {
			return nil, true
		}
		m.logger.Warn("dedupe lock not taken; the push is forwarded", zap.String("lock", name), zap.Error(err))
		return func() {}, false
	}
	return func() {
		if err := m.storage.Unlock(context.WithoutCancel(r.Context()), name); err != nil {
			m.logger.Warn("dedupe lock not released", zap.String("lock", name), zap.Error(err))
		}
	}, false
}

// recall returns the recorded answer of a message, if any and still valid.
func (m *MessageNotify) recall(r *http.Request, id string) ([]byte, bool) {
	key := m.dedupeKey(id)
	b, err := m.storage.Load(r.Context(), key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.logger.Warn("dedupe record could not be read; the push is forwarded", zap.String("key", key), zap.Error(err))
		}
		return nil, false
	}
	var rec dedupeRecord
	if json.Unmarshal(b, &rec) != nil {
		return nil, false
	}
	if m.now().Unix() >= rec.Expires {
		_ = m.storage.Delete(r.Context(), key)
		return nil, false
	}
	return rec.Answer, true
}

// record stores the backend's answer of a message for Dedupe.
func (m *MessageNotify) record(r *http.Request, id string, answer []byte) {
	rec := dedupeRecord{Expires: m.now().Add(time.Duration(m.Dedupe)).Unix(), Answer: answer}
	b, _ := json.Marshal(rec)
	key := m.dedupeKey(id)
	if err := m.storage.Store(r.Context(), key, b); err != nil {
		m.logger.Warn("dedupe record could not be stored", zap.String("key", key), zap.Error(err))
	}
}
