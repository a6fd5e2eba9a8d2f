package openapi

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// callCounters are a provider's children of handlers.OpenAPICalls, looked
// up once per (api, outcome): WithLabelValues hashes its labels on every
// call.
type callCounters struct {
	provider string
	mu       sync.RWMutex
	m        map[callKey]prometheus.Counter
}

type callKey struct{ api, outcome string }

func newCallCounters(provider string) *callCounters {
	return &callCounters{provider: provider, m: make(map[callKey]prometheus.Counter)}
}

func (c *callCounters) inc(api, outcome string) {
	k := callKey{api, outcome}
	c.mu.RLock()
	ctr, ok := c.m[k]
	c.mu.RUnlock()
	if !ok {
		// api is a catalog name or "unknown", outcome a fixed label:
		// the map stays as small as the metric's own children.
		ctr = handlers.OpenAPICalls.WithLabelValues(c.provider, api, outcome)
		c.mu.Lock()
		c.m[k] = ctr
		c.mu.Unlock()
	}
	ctr.Inc()
}
