package wxpay

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_payment_notify wxpay {
//		app_id       <appid>
//		mch_id       <mchid>
//		key          <APIv2 key>              # v2
//		api_v3_key   <APIv3 key>              # v3
//		platform_key <serial> <pem>           # v3; repeatable
//		max_skew     <duration>               # default 5m
//		endpoint     <url>                    # default https://api.mch.weixin.qq.com (v2 refund query)
//		timeout      <duration>               # the refund query's, default 10s
//	}
func (w *Wxpay) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		dir := d.Val()
		var err error
		switch dir {
		case "app_id":
			err = handlers.StringArg(d, &w.AppID)
		case "mch_id":
			err = handlers.StringArg(d, &w.MchID)
		case "key":
			err = handlers.StringArg(d, &w.Key)
		case "api_v3_key":
			err = handlers.StringArg(d, &w.APIv3Key)
		case "endpoint":
			err = handlers.StringArg(d, &w.Endpoint)
		case "platform_key":
			serial, key, err := handlers.PlatformKeyArgs(d)
			if err != nil {
				return err
			}
			w.PlatformKeys = append(w.PlatformKeys, PlatformKey{Serial: serial, Key: key})
		case "max_skew":
			w.MaxSkew, err = handlers.DurationArg(d)
		case "timeout":
			w.Timeout, err = handlers.DurationArg(d)
		default:
			return d.Errf("unknown subdirective %q of unicloud_payment_notify wxpay", dir)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
