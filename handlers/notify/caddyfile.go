package notify

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// UnmarshalCaddyfile sets up the handler from
//
//	unicloud_payment_notify [<matcher>] wxpay|alipay {
//		max_body        <size>       # default 64KiB
//		upstream_secret <secret>
//		…                            # the provider's own subdirectives
//	}
//
// The host reads its own subdirectives and hands the provider's to the
// module unicloud.notify.providers.<provider>.
func (n *Notify) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	name, guest, err := handlers.SplitBlock(d, func(d *caddyfile.Dispenser, dir string) (bool, error) {
		switch dir {
		case "max_body":
			v, err := handlers.SizeArg(d)
			if err != nil {
				return true, err
			}
			n.MaxBody = v
		case "upstream_secret":
			return true, handlers.StringArg(d, &n.UpstreamSecret)
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	raw, err := handlers.LoadGuest(d, guest, providerNamespace, name, "wxpay", "alipay")
	if err != nil {
		return err
	}
	n.ProviderRaw = raw
	return nil
}

var _ caddyfile.Unmarshaler = (*Notify)(nil)
