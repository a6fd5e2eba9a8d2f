package openapi

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

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
			v, err := oneArg(d)
			if err != nil {
				return true, err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return true, d.Errf("timeout: %q is not a positive duration", v)
			}
			h.Timeout = caddy.Duration(dur)
		case "max_body":
			v, err := oneArg(d)
			if err != nil {
				return true, err
			}
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				return true, d.Errf("max_body: %q is not a size", v)
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

func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// parseSize reads a byte size such as 2MB, 64KB or 1048576.
func parseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	n, err := humanize.ParseBytes(s)
	return int64(n), err
}

var _ caddyfile.Unmarshaler = (*OpenAPI)(nil)
