package messagenotify

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// UnmarshalCaddyfile sets up the handler from
//
//	unicloud_message_notify <provider> {
//		max_body        <size>       # default 1MB
//		dedupe          <duration>   # default off
//		upstream_secret <secret>
//		…                            # the provider's own subdirectives
//	}
//
// The host reads its own subdirectives and hands the provider's to the
// module unicloud.message_notify.providers.<provider>.
func (m *MessageNotify) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	name, guest, err := handlers.SplitBlock(d, func(d *caddyfile.Dispenser, dir string) (bool, error) {
		switch dir {
		case "max_body":
			v, err := oneArg(d)
			if err != nil {
				return true, err
			}
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				return true, d.Errf("max_body: %q is not a size", v)
			}
			m.MaxBody = n
		case "dedupe":
			v, err := oneArg(d)
			if err != nil {
				return true, err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return true, d.Errf("dedupe: %q is not a positive duration", v)
			}
			m.Dedupe = caddy.Duration(dur)
		case "upstream_secret":
			v, err := oneArg(d)
			if err != nil {
				return true, err
			}
			m.UpstreamSecret = v
		default:
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	raw, err := handlers.LoadGuest(d, guest, providerNamespace, name, "weixin")
	if err != nil {
		return err
	}
	m.ProviderRaw = raw
	return nil
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

// parseSize reads a byte size such as 1MB, 64KB or 1048576.
func parseSize(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	n, err := humanize.ParseBytes(s)
	return int64(n), err
}

var _ caddyfile.Unmarshaler = (*MessageNotify)(nil)
