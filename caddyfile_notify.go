package unicloud

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-unicloud/unicloud/handlers"
)

func init() {
	caddy.RegisterModule(handlers.Notify{})
	httpcaddyfile.RegisterHandlerDirective("unicloud_payment_notify", parseNotify)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment_notify", httpcaddyfile.Before, "reverse_proxy")
}

// parseNotify sets up the unicloud_payment_notify handler:
//
//	unicloud_payment_notify [<matcher>] wxpay|alipay {
//		app_id            <appid>
//		mch_id            <mchid>                  # wxpay
//		key               <APIv2 key>              # wxpay v2
//		api_v3_key        <APIv3 key>              # wxpay v3
//		platform_key      <serial> <pem>           # wxpay v3; repeatable
//		alipay_public_key <pem-or-base64>          # alipay
//		max_body          <size>                   # default 64KiB
//		max_skew          <duration>               # default 5m
//		upstream_secret   <secret>
//	}
func parseNotify(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	n := new(handlers.Notify)
	var err error
	if n.Provider, err = providerArg(h, "wxpay", "alipay"); err != nil {
		return nil, err
	}
	for h.NextBlock(0) {
		dir := h.Val()
		fields := map[string]*string{
			"app_id": &n.AppID, "mch_id": &n.MchID, "key": &n.Key, "api_v3_key": &n.APIv3Key,
			"alipay_public_key": &n.AlipayPublicKey, "upstream_secret": &n.UpstreamSecret,
		}
		if p, ok := fields[dir]; ok {
			v, err := oneArg(h)
			if err != nil {
				return nil, err
			}
			if *p != "" {
				return nil, h.Errf("%s is given twice", dir)
			}
			*p = v
			continue
		}
		switch dir {
		case "platform_key":
			args := h.RemainingArgs()
			if len(args) != 2 {
				return nil, h.Err("platform_key takes a serial (or PUB_KEY_ID_…) and a key or certificate")
			}
			n.PlatformKeys = append(n.PlatformKeys, handlers.NotifyPlatformKey{Serial: args[0], Key: args[1]})
		case "max_body":
			v, err := oneArg(h)
			if err != nil {
				return nil, err
			}
			size, err := parseSize(v)
			if err != nil || size <= 0 {
				return nil, h.Errf("max_body: %q is not a size", v)
			}
			n.MaxBody = size
		case "max_skew":
			v, err := oneArg(h)
			if err != nil {
				return nil, err
			}
			d, err := caddy.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, h.Errf("max_skew: %q is not a positive duration", v)
			}
			n.MaxSkew = caddy.Duration(d)
		default:
			return nil, h.Errf("unknown subdirective %q", dir)
		}
	}
	return n, nil
}
