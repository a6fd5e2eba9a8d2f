package unicloud

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-unicloud/unicloud/handlers"
)

func init() {
	caddy.RegisterModule(handlers.Payment{})
	httpcaddyfile.RegisterHandlerDirective("unicloud_payment", parsePayment)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_payment", httpcaddyfile.Before, "reverse_proxy")
}

// parsePayment sets up the unicloud_payment handler:
//
//	unicloud_payment [<matcher>] wxpay {
//		version      v2                    # v2 (default) | v3
//		app_id       <appid>
//		mch_id       <mchid>
//		key          <APIv2 key>
//		pfx          <path of apiclient_cert.p12>
//		pfx_password <password>            # default: mch_id
//		sign_type    MD5|HMAC-SHA256       # default MD5
//		notify_url   <url>
//		endpoint     <url>                 # default https://api.mch.weixin.qq.com
//		sandbox
//		ca_cert      <pem-or-path>
//		timeout      <duration>            # default 10s
//		max_body     <size>                # default 256KiB
//	}
//
//	unicloud_payment [<matcher>] wxpay {
//		version        v3
//		app_id         <appid>
//		mch_id         <mchid>
//		private_key    <pem-or-base64>     # merchant API private key (apiclient_key.pem)
//		serial_no      <serial>            # merchant API certificate serial
//		api_v3_key     <APIv3 key>         # needed by platform_certs auto
//		platform_key   <serial-or-PUB_KEY_ID> <pem>   # repeatable
//		platform_certs auto                # download /v3/certificates
//		platform_root  <pem-or-path>       # with platform_certs auto
//		max_skew       <duration>          # default 5m
//		notify_url     <url>
//		endpoint       <url>
//		ca_cert        <pem-or-path>
//		timeout        <duration>
//		max_body       <size>
//	}
//
//	unicloud_payment [<matcher>] alipay {
//		app_id            <appid>
//		private_key       <pem-or-base64>
//		key_type          PKCS8|PKCS1      # default PKCS8
//		alipay_public_key <pem-or-base64>
//		notify_url        <url>
//		endpoint          <gateway-url>    # default https://openapi.alipay.com/gateway.do
//		sandbox                            # https://openapi-sandbox.dl.alipaydev.com/gateway.do
//		ca_cert           <pem-or-path>
//		timeout           <duration>
//		max_body          <size>
//	}
func parsePayment(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	p := new(handlers.Payment)
	var err error
	if p.Provider, err = providerArg(h, "wxpay", "alipay"); err != nil {
		return nil, err
	}
	wxpayOnly := map[string]bool{"version": true, "mch_id": true, "key": true, "pfx": true, "pfx_password": true, "sign_type": true,
		"serial_no": true, "api_v3_key": true, "platform_key": true, "platform_certs": true, "platform_root": true, "max_skew": true}
	alipayOnly := map[string]bool{"key_type": true, "alipay_public_key": true}
	for h.NextBlock(0) {
		dir := h.Val()
		if (p.Provider == "alipay" && wxpayOnly[dir]) || (p.Provider == "wxpay" && alipayOnly[dir]) {
			return nil, h.Errf("%s is not a subdirective of unicloud_payment %s", dir, p.Provider)
		}
		fields := map[string]*string{
			"version": &p.Version, "app_id": &p.AppID, "mch_id": &p.MchID, "key": &p.Key, "pfx": &p.Pfx,
			"pfx_password": &p.PfxPassword, "sign_type": &p.SignType, "private_key": &p.PrivateKey,
			"key_type": &p.KeyType, "alipay_public_key": &p.AlipayPublicKey, "notify_url": &p.NotifyURL,
			"endpoint": &p.Endpoint, "ca_cert": &p.CACert,
			"serial_no": &p.SerialNo, "api_v3_key": &p.APIv3Key, "platform_certs": &p.PlatformCerts,
			"platform_root": &p.PlatformRoot,
		}
		if f, ok := fields[dir]; ok {
			if err := stringArg(h, f); err != nil {
				return nil, err
			}
			v := *f
			switch dir {
			case "version":
				if v != "v2" && v != "v3" {
					return nil, h.Errf("version must be v2 or v3, not %q", v)
				}
			case "sign_type":
				if v != "MD5" && v != "HMAC-SHA256" {
					return nil, h.Errf("sign_type must be MD5 or HMAC-SHA256, not %q", v)
				}
			case "key_type":
				if v != "PKCS8" && v != "PKCS1" {
					return nil, h.Errf("key_type must be PKCS8 or PKCS1, not %q", v)
				}
			case "platform_certs":
				if v != "auto" {
					return nil, h.Errf("platform_certs must be auto, not %q", v)
				}
			}
			continue
		}
		switch dir {
		case "sandbox":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			p.Sandbox = true
		case "timeout":
			if p.Timeout, err = durationArg(h); err != nil {
				return nil, err
			}
		case "platform_key":
			k, err := platformKeyArg(h)
			if err != nil {
				return nil, err
			}
			p.PlatformKeys = append(p.PlatformKeys, k)
		case "max_skew":
			if p.MaxSkew, err = durationArg(h); err != nil {
				return nil, err
			}
		case "max_body":
			if p.MaxBody, err = sizeArg(h); err != nil {
				return nil, err
			}
		default:
			return nil, h.Errf("unknown subdirective %q", dir)
		}
	}
	return p, nil
}
