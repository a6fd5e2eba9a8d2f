package messagenotify

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
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
	d.Next() // the directive
	if !d.NextArg() {
		return d.Err("unicloud_message_notify needs a provider: weixin")
	}
	nameTok := d.Token()
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	guest := []caddyfile.Token{nameTok}
	opened := false
	for d.NextBlock(0) {
		if !opened {
			brace := nameTok // same file, line and import chain
			brace.Text = "{"
			guest = append(guest, brace)
			opened = true
		}
		switch dir := d.Val(); dir {
		case "max_body":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				return d.Errf("max_body: %q is not a size", v)
			}
			m.MaxBody = n
		case "dedupe":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("dedupe: %q is not a positive duration", v)
			}
			m.Dedupe = caddy.Duration(dur)
		case "upstream_secret":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			m.UpstreamSecret = v
		default:
			guest = append(guest, d.NextSegment()...)
		}
	}
	if opened {
		closing := d.Token()
		if closing.Text != "}" {
			closing = guest[len(guest)-1]
			closing.Line++
			closing.Text = "}"
		}
		guest = append(guest, closing)
	}
	modID := "unicloud.message_notify.providers." + name
	if _, err := caddy.GetModule(modID); err != nil {
		return d.Errf("unknown provider %q for unicloud_message_notify: weixin", name)
	}
	gd := caddyfile.NewDispenser(guest)
	gd.Next() // UnmarshalModule reads the segment from the current token
	unm, err := caddyfile.UnmarshalModule(gd, modID)
	if err != nil {
		return err
	}
	m.ProviderRaw = caddyconfig.JSONModuleObject(unm, "provider", name, nil)
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
