// Package conf holds what the payment provider modules share: reading
// their Caddyfile subdirectives and building their HTTP client.
package conf

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// Directive is the host directive, as error messages name it.
const Directive = "unicloud_payment"

// Transport is the transport to a provider, trusting the PEM certificates
// of caCert (PEM text or a file path) besides the system roots.
func Transport(caCert string) (*http.Transport, error) {
	t := handlers.NewTransport()
	if caCert != "" {
		pool, err := handlers.CAPool(caCert)
		if err != nil {
			return nil, fmt.Errorf("%s: ca_cert: %w", Directive, err)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// Client is the HTTP client over t (no redirects). Its Timeout is set
// from the host's timeout when the host takes the provider.
func Client(t *http.Transport) *http.Client {
	return &http.Client{Transport: t, CheckRedirect: handlers.NoRedirects}
}

// CheckURLs checks notify_url and endpoint: absolute http(s) URLs (the
// provider calls notify_url from the internet).
func CheckURLs(prefix, notifyURL, endpoint string) error {
	if notifyURL != "" {
		if err := handlers.CheckHTTPURL("notify_url", notifyURL); err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
	}
	if endpoint != "" {
		if err := handlers.CheckHTTPURL("endpoint", endpoint); err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
	}
	return nil
}

// ClientAppIDArg reads `client_app_id <clientType> <appid>` (WeChat Pay,
// repeatable) into *dst: clientType one of wxpay.AppClientTypes, each at
// most once.
func ClientAppIDArg(d *caddyfile.Dispenser, dst *map[string]string) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("client_app_id takes a clientType (%s) and an appid", wxpay.AppClientTypeList())
	}
	if !wxpay.IsAppClientType(args[0]) {
		return d.Errf("client_app_id: clientType %q is not one of %s", args[0], wxpay.AppClientTypeList())
	}
	if _, dup := (*dst)[args[0]]; dup {
		return d.Errf("client_app_id %s is given twice", args[0])
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	(*dst)[args[0]] = args[1]
	return nil
}

// ResolveClientAppIDs resolves the placeholders of client_app_ids' appids
// in place.
func ResolveClientAppIDs(prefix string, m map[string]string) error {
	for ct, raw := range m {
		v, err := handlers.ResolveSecret("client_app_id "+ct, raw)
		if err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		m[ct] = v
	}
	return nil
}

// CheckClientAppIDs checks client_app_ids (clientType → appid): known
// client types, each with an appid.
func CheckClientAppIDs(prefix string, m map[string]string) error {
	for ct, id := range m {
		if !wxpay.IsAppClientType(ct) {
			return fmt.Errorf("%s: client_app_id: clientType %q is not one of %s", prefix, ct, wxpay.AppClientTypeList())
		}
		if id == "" {
			return fmt.Errorf("%s: client_app_id %s needs an appid", prefix, ct)
		}
	}
	return nil
}
