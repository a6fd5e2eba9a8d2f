package unicloud

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-unicloud/unicloud/emulator"
)

func init() {
	caddy.RegisterModule(emulator.Handler{})
	httpcaddyfile.RegisterHandlerDirective("unicloud_emulator", parseEmulator)
	httpcaddyfile.RegisterDirectiveOrder("unicloud_emulator", httpcaddyfile.Before, "reverse_proxy")
}

// parseEmulator sets up the unicloud_emulator handler:
//
//	unicloud_emulator [<matcher>] {
//		weixin_app              <appid> <secret>   # a test mini-program; repeatable
//		weixin_official_account <appid> <secret>   # a test official account; repeatable
//		weixin_open_app         <appid> <secret>   # a test open-platform mobile or website app (/sns/oauth2 login); repeatable
//		token_ttl   <duration>                     # default 7200s
//		token_grace <duration>                     # default 5m
//		latency     <duration>                     # default none
//		wxpay_merchant <mch_id> <APIv2 key> [require_cert]   # repeatable
//		wxpay_v3_merchant <mchid> <APIv3 key> <merchant public key or cert> [<PUB_KEY_ID_…> <platform private key>]
//		alipay_app <app_id> <app public key> [<alipay private key>]   # repeatable
//		alipay_test_pki <dir>                      # Alipay certificate mode: the test PKI's files are kept in dir
//		weixin_xpay <appid> <offer_id> <app_key> <sandbox_app_key>    # virtual payment of a weixin_app; repeatable
//		allow_remote                               # serve non-loopback clients too (default: 403)
//	}
//
//	unicloud_emulator [<matcher>] {
//		backend        # a demo backend instead: logs each request's body and X-Unicloud-* headers, answers 204
//		[allow_remote]
//	}
func parseEmulator(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	e := new(emulator.Handler)
	h.Next() // the directive name; the matcher is already taken out
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch dir := h.Val(); dir {
		case "weixin_app", "weixin_official_account", "weixin_open_app":
			args := h.RemainingArgs()
			if len(args) != 2 {
				return nil, h.Errf("%s takes an appid and a secret", dir)
			}
			apps := &e.WeixinApps
			if dir == "weixin_official_account" {
				apps = &e.WeixinOfficialAccounts
			} else if dir == "weixin_open_app" {
				apps = &e.WeixinOpenApps
			}
			if *apps == nil {
				*apps = map[string]string{}
			}
			if _, dup := (*apps)[args[0]]; dup {
				return nil, h.Errf("%s %s given twice", dir, args[0])
			}
			(*apps)[args[0]] = args[1]
		case "allow_remote", "backend":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			if dir == "backend" {
				e.Backend = true
			} else {
				e.AllowRemote = true
			}
		case "token_ttl", "token_grace", "latency":
			if !h.NextArg() {
				return nil, h.ArgErr()
			}
			d, err := caddy.ParseDuration(h.Val())
			if err != nil {
				return nil, h.Errf("%s: %v", dir, err)
			}
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			switch dir {
			case "token_ttl":
				e.TokenTTL = caddy.Duration(d)
			case "token_grace":
				e.TokenGrace = caddy.Duration(d)
			default:
				e.Latency = caddy.Duration(d)
			}
		case "weixin_message_push": // <appid> <url> { token, encoding_aes_key, mode, format }: where the app's pushes go
			t, err := parseWeixinMessagePush(h)
			if err != nil {
				return nil, err
			}
			e.WeixinMessagePushes = append(e.WeixinMessagePushes, t)
		case "wxpay_merchant": // <mch_id> <APIv2 key> [require_cert]: a test WeChat Pay merchant; repeatable
			args := h.RemainingArgs()
			if len(args) < 2 || len(args) > 3 || (len(args) == 3 && args[2] != "require_cert") {
				return nil, h.Err("wxpay_merchant takes a mch_id, an APIv2 key and optionally require_cert")
			}
			e.WxpayMerchants = append(e.WxpayMerchants, emulator.WxpayMerchant{MchID: args[0], Key: args[1], RequireCert: len(args) == 3})
		case "wxpay_v3_merchant": // <mchid> <api_v3_key> <merchant public key or cert> [<PUB_KEY_ID_…> <platform private key>]: a test APIv3 merchant; repeatable
			args := h.RemainingArgs()
			if len(args) != 3 && len(args) != 5 {
				return nil, h.Err("wxpay_v3_merchant takes a mchid, an APIv3 key, the merchant API public key (or certificate) and optionally a PUB_KEY_ID_… with the platform private key the emulator signs with")
			}
			m := emulator.WxpayV3Merchant{MchID: args[0], APIv3Key: args[1], MerchantKey: args[2]}
			if len(args) == 5 {
				m.PublicKeyID, m.PlatformPrivateKey = args[3], args[4]
			}
			e.WxpayV3Merchants = append(e.WxpayV3Merchants, m)
		case "alipay_app": // <app_id> <app_public_key> [<alipay_private_key>]: a test Alipay application; repeatable
			args := h.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return nil, h.Err("alipay_app takes an app_id, the app public key and optionally the private key the emulator signs with")
			}
			app := emulator.AlipayApp{AppID: args[0], AppPublicKey: args[1]}
			if len(args) == 3 {
				app.AlipayPrivateKey = args[2]
			}
			e.AlipayApps = append(e.AlipayApps, app)
		case "alipay_test_pki": // <dir>: certificate mode with a test PKI kept in dir
			args := h.RemainingArgs()
			if len(args) != 1 || e.AlipayTestPKI != "" {
				return nil, h.Err("alipay_test_pki takes one directory, once")
			}
			e.AlipayTestPKI = args[0]
		case "weixin_xpay": // <appid> <offer_id> <app_key> <sandbox_app_key>: virtual payment of a test mini-program; repeatable
			args := h.RemainingArgs()
			if len(args) != 4 {
				return nil, h.Err("weixin_xpay takes an appid, an offer_id, the production app_key and the sandbox_app_key")
			}
			e.WeixinXpay = append(e.WeixinXpay, emulator.WeixinXpay{AppID: args[0], OfferID: args[1], AppKey: args[2], SandboxAppKey: args[3]})
		default:
			return nil, h.Errf("unrecognized unicloud_emulator option %q", dir)
		}
	}
	if e.AlipayTestPKI != "" {
		// Written now, before any gateway reads them with {file.…}.
		if err := emulator.EnsureAlipayTestPKI(caddy.NewReplacer().ReplaceAll(e.AlipayTestPKI, ""), e.AlipayApps); err != nil {
			return nil, h.Err(err.Error())
		}
	}
	return e, nil
}

// parseWeixinMessagePush reads
//
//	weixin_message_push <appid> <url> {
//		token            <token>
//		encoding_aes_key <43 characters>   # omit for plaintext mode
//		mode             plaintext|compatible|safe
//		format           xml|json
//	}
func parseWeixinMessagePush(h httpcaddyfile.Helper) (emulator.WeixinMessagePush, error) {
	args := h.RemainingArgs()
	if len(args) != 2 {
		return emulator.WeixinMessagePush{}, h.Err("weixin_message_push takes an appid and the message server's URL")
	}
	t := emulator.WeixinMessagePush{AppID: args[0], URL: args[1]}
	for nesting := h.Nesting(); h.NextBlock(nesting); {
		dir := h.Val()
		dst := map[string]*string{"token": &t.Token, "encoding_aes_key": &t.EncodingAESKey, "mode": &t.Mode, "format": &t.Format}[dir]
		if dst == nil {
			return t, h.Errf("unknown weixin_message_push subdirective %q", dir)
		}
		if !h.NextArg() {
			return t, h.ArgErr()
		}
		*dst = h.Val()
		if h.NextArg() {
			return t, h.ArgErr()
		}
	}
	if err := t.Validate(); err != nil {
		return t, h.Err(err.Error())
	}
	return t, nil
}
