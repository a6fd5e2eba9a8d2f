package messagenotify

import (
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
