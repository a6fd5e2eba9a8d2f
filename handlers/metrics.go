package handlers

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterCollectors registers collectors into a config's metrics registry.
// Collectors are created once per process (package variables); each config
// (and each config reload) has its own registry, so registering the same
// collector again is expected and AlreadyRegisteredError is ignored.
func RegisterCollectors(reg prometheus.Registerer, cs ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				// A different collector with the same name: nothing a
				// caller can fix at run time; metrics stay unregistered.
				continue
			}
		}
	}
}

// ContextStorage is the config's storage, or nil for a Context made outside
// a running config (benchmarks, tools), whose Storage method panics.
func ContextStorage(ctx caddy.Context) (st certmagic.Storage) {
	defer func() {
		if recover() != nil {
			st = nil
		}
	}()
	return ctx.Storage()
}

// The openapi gateway's collectors, shared by its host and provider modules.
var (
	OpenAPICalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "unicloud", Name: "openapi_calls_total",
		Help: "Calls of the openapi gateway by provider, API and outcome (ok, provider_error, or the gateway error code).",
	}, []string{"provider", "api", "outcome"})
	TokenFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "unicloud", Name: "token_fetches_total",
		Help: "Credential fetches from the provider by kind (access_token, jsapi_ticket) and result (ok, error), and credentials taken from the shared storage (shared).",
	}, []string{"provider", "kind", "result"})
	ProviderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "unicloud", Name: "provider_errors_total",
		Help: "Provider answers with a non-zero error code, by provider, API and code.",
	}, []string{"provider", "api", "errcode"})
)
