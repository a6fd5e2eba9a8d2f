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
	m        sync.Map // callKey -> prometheus.Counter
}

type callKey struct{ api, outcome string }

func newCallCounters(provider string) *callCounters {
	return &callCounters{provider: provider}
}

func (c *callCounters) inc(api, outcome string) {
	k := callKey{api, outcome}
	if v, ok := c.m.Load(k); ok {
		v.(prometheus.Counter).Inc()
		return
	}
	ctr := handlers.OpenAPICalls.WithLabelValues(c.provider, api, outcome)
	c.m.Store(k, ctr)
	ctr.Inc()
}
