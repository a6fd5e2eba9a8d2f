package unicloud

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-unicloud/unicloud/handlers/messagenotify"
	"github.com/caddy-unicloud/unicloud/handlers/notify"
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

	// Registered after unicloud_message_notify, so ordered right after
	// forward_auth, before it (as it always was).
	httpcaddyfile.RegisterHandlerDirective("unicloud_payment_notify", parseNotify)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment_notify", httpcaddyfile.After, middlewareAnchor)
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

// parseNotify sets up unicloud_payment_notify (the host reads max_body and
// upstream_secret, and hands the rest to the provider's guest module).
func parseNotify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	n := new(notify.Notify)
	if err := n.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return n, nil
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
