package openapi

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// UnmarshalCaddyfile sets up the handler from
//
//	unicloud_openapi <provider> {
//		allow    <name-or-glob...>   # repeatable
//		timeout  <duration>          # default 10s
//		max_body <size>              # default: the provider's
//		…                            # the provider's own subdirectives
//	}
//
// The host reads its own subdirectives and hands the provider's to the
// module unicloud.openapi.providers.<provider>.
func (h *OpenAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if !d.NextArg() {
		return d.Err("unicloud_openapi needs a provider: weixin or alipay")
	}
	d.Reset()
	name, guest, err := handlers.SplitBlock(d, func(d *caddyfile.Dispenser, dir string) (bool, error) {
		switch dir {
		case "allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return true, d.ArgErr()
			}
			h.Allow = append(h.Allow, args...)
		case "timeout":
			dur, err := handlers.DurationArg(d)
			if err != nil {
				return true, err
			}
			h.Timeout = dur
		case "max_body":
			n, err := handlers.SizeArg(d)
			if err != nil {
				return true, err
			}
			h.MaxBody = n
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	h.ProviderRaw, err = handlers.LoadGuest(d, guest, "unicloud.openapi.providers", name, "weixin", "alipay")
	return err
}

var _ caddyfile.Unmarshaler = (*OpenAPI)(nil)
