package unicloud

import (
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/messagenotify"
	"github.com/caddy-unicloud/unicloud/handlers/openapi"
	"github.com/caddy-unicloud/unicloud/handlers/payment"
)

// middlewareAnchor is where the verifying middleware directives
// (unicloud_payment_notify, unicloud_message_notify) are ordered: right after
// forward_auth, among Caddy's own middleware, so before handle, route,
// respond and every other directive that answers a request. Ordered any
// later (say before reverse_proxy, which comes after respond), a
// `respond "ok" 200` in the same block would answer a forged notification
// before the verifier ever ran.
const middlewareAnchor = "forward_auth"

func init() {
	httpcaddyfile.RegisterHandlerDirective("unicloud_openapi", parseOpenAPI)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_openapi", httpcaddyfile.Before, "reverse_proxy")

	httpcaddyfile.RegisterHandlerDirective("unicloud_payment", parsePayment)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment", httpcaddyfile.Before, "reverse_proxy")

	httpcaddyfile.RegisterHandlerDirective("unicloud_message_notify", parseMessageNotify)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_message_notify", httpcaddyfile.After, middlewareAnchor)
}

// parsePayment sets up unicloud_payment (the host reads version, timeout
// and max_body, and hands the rest to the provider's guest module).
func parsePayment(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(payment.Payment)
	if err := p.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return p, nil
}

// parseMessageNotify sets up unicloud_message_notify (the host reads its
// own subdirectives and hands the rest to the provider's guest module):
//
//	unicloud_message_notify [<matcher>] weixin {
//		token            <token>
//		encoding_aes_key <43 characters>
//		app_id           <appid>
//		max_skew         <duration>|0
//		max_body         <size>
//		dedupe           <duration>
//		upstream_secret  <secret>
//	}
func parseMessageNotify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(messagenotify.MessageNotify)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return m, nil
}

// parseOpenAPI sets up unicloud_openapi (the host reads its own
// subdirectives and hands the rest to the provider's guest module).
func parseOpenAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	o := new(openapi.OpenAPI)
	if err := o.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return o, nil
}

// providerArg reads a directive's one argument, its provider, which must be
// one of allowed.
func providerArg(h httpcaddyfile.Helper, allowed ...string) (string, error) {
	h.Next() // the directive name; the matcher is already taken out
	dir := h.Val()
	want := strings.Join(allowed, " or ")
	if !h.NextArg() {
		return "", h.Errf("%s needs a provider: %s", dir, want)
	}
	p := h.Val()
	if !slices.Contains(allowed, p) {
		return "", h.Errf("unknown provider %q: %s", p, want)
	}
	if h.NextArg() {
		return "", h.ArgErr()
	}
	return p, nil
}

// oneArg reads exactly one argument of the current subdirective.
func oneArg(h httpcaddyfile.Helper) (string, error) {
	if !h.NextArg() {
		return "", h.ArgErr()
	}
	v := h.Val()
	if h.NextArg() {
		return "", h.ArgErr()
	}
	return v, nil
}

// stringArg sets *dst to the subdirective's one argument; a subdirective
// given twice is an error.
func stringArg(h httpcaddyfile.Helper, dst *string) error {
	dir := h.Val()
	v, err := oneArg(h)
	if err != nil {
		return err
	}
	if *dst != "" {
		return h.Errf("%s is given twice", dir)
	}
	*dst = v
	return nil
}

// durationArg reads the subdirective's one argument, a positive duration.
func durationArg(h httpcaddyfile.Helper) (caddy.Duration, error) {
	dir := h.Val()
	v, err := oneArg(h)
	if err != nil {
		return 0, err
	}
	d, err := caddy.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, h.Errf("%s: %q is not a positive duration", dir, v)
	}
	return caddy.Duration(d), nil
}

// sizeArg reads the subdirective's one argument, a positive byte size.
func sizeArg(h httpcaddyfile.Helper) (int64, error) {
	dir := h.Val()
	v, err := oneArg(h)
	if err != nil {
		return 0, err
	}
	n, err := parseSize(v)
	if err != nil || n <= 0 {
		return 0, h.Errf("%s: %q is not a size", dir, v)
	}
	return n, nil
}

// platformKeyArg reads `platform_key <serial-or-PUB_KEY_ID> <pem>`.
func platformKeyArg(h httpcaddyfile.Helper) (handlers.NotifyPlatformKey, error) {
	args := h.RemainingArgs()
	if len(args) != 2 {
		return handlers.NotifyPlatformKey{}, h.Err("platform_key takes a serial (or PUB_KEY_ID_…) and a public key or certificate")
	}
	return handlers.NotifyPlatformKey{Serial: args[0], Key: args[1]}, nil
}

// parseSize reads a byte size such as 2MB, 64KB or 1048576.
func parseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, err
	}
	return int64(n), nil
}
