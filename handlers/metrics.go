package handlers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// registerCollectors registers collectors into a config's metrics registry.
// Collectors are created once per process (package variables); each config
// (and each config reload) has its own registry, so registering the same
// collector again is expected and AlreadyRegisteredError is ignored.
func registerCollectors(reg prometheus.Registerer, cs ...prometheus.Collector) {
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
