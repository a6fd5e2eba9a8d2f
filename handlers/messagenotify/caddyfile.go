package messagenotify

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

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
			n, err := handlers.SizeArg(d)
			if err != nil {
				return true, err
			}
			m.MaxBody = n
		case "dedupe":
			dur, err := handlers.DurationArg(d)
			if err != nil {
				return true, err
			}
			m.Dedupe = dur
		case "upstream_secret":
			v, err := handlers.OneArg(d)
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

var _ caddyfile.Unmarshaler = (*MessageNotify)(nil)
