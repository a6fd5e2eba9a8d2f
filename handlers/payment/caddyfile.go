package payment

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// providerNamespace is where the providers' modules are.
const providerNamespace = "unicloud.payment.providers"

// UnmarshalCaddyfile sets up the handler from
//
//	unicloud_payment <provider> {
//		version  v2|v3        # wxpay only: default v2
//		timeout  <duration>   # default 10s
//		max_body <size>       # default 256KiB
//		…                     # the provider's own subdirectives
//	}
//
// The host reads its own subdirectives and hands the provider's to the
// module unicloud.payment.providers.<id>: wxpay is wxpay_v2 or wxpay_v3
// by its version, alipay is alipay, any other name a plugin's module.
func (h *Payment) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	peek := *d // the provider's name, to name the choices when it is missing
	if peek.Next(); !peek.NextArg() {
		return peek.Err("unicloud_payment needs a provider: " + knownProviders)
	}
	var version string
	name, guest, err := handlers.SplitBlock(d, func(d *caddyfile.Dispenser, dir string) (bool, error) {
		switch dir {
		case "version":
			v, err := handlers.OneArg(d)
			if err != nil {
				return true, err
			}
			if version != "" {
				return true, d.Err("version is given twice")
			}
			if v != "v2" && v != "v3" {
				return true, d.Errf("version must be v2 or v3, not %q", v)
			}
			version = v
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
	id := name
	switch {
	case name == "wxpay" && version == "v3":
		id = "wxpay_v3"
	case name == "wxpay":
		id = "wxpay_v2"
	case version != "":
		return d.Errf("version is not a subdirective of unicloud_payment %s", name)
	}
	raw, err := handlers.LoadGuest(d, guest, providerNamespace, id, knownProviders)
	if err != nil {
		return err
	}
	h.ProviderRaw = raw
	return nil
}

// knownProviders are the Caddyfile names of the providers this plugin ships.
const knownProviders = "wxpay, alipay or wxpay_virtual"

var _ caddyfile.Unmarshaler = (*Payment)(nil)
