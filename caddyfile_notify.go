package unicloud

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-unicloud/unicloud/handlers/notify"
	_ "github.com/caddy-unicloud/unicloud/handlers/notify/alipay"
	_ "github.com/caddy-unicloud/unicloud/handlers/notify/wxpay"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("unicloud_payment_notify", parseNotify)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment_notify", httpcaddyfile.After, middlewareAnchor)
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
