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
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment_notify", httpcaddyfile.After, middlewareAnchor)
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
//		endpoint          <url>                    # wxpay: default https://api.mch.weixin.qq.com (v2 refund query)
//		timeout           <duration>               # wxpay: the refund query's, default 10s
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
			"alipay_public_key": &n.AlipayPublicKey, "upstream_secret": &n.UpstreamSecret, "endpoint": &n.Endpoint,
		}
		if p, ok := fields[dir]; ok {
			if err := stringArg(h, p); err != nil {
				return nil, err
			}
			continue
		}
		switch dir {
		case "platform_key":
			k, err := platformKeyArg(h)
			if err != nil {
				return nil, err
			}
			n.PlatformKeys = append(n.PlatformKeys, k)
		case "max_body":
			if n.MaxBody, err = sizeArg(h); err != nil {
				return nil, err
			}
		case "max_skew":
			if n.MaxSkew, err = durationArg(h); err != nil {
				return nil, err
			}
		case "timeout":
			if n.Timeout, err = durationArg(h); err != nil {
				return nil, err
			}
		default:
			return nil, h.Errf("unknown subdirective %q", dir)
		}
	}
	return n, nil
}
