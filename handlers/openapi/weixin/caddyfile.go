package weixin

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// UnmarshalCaddyfile reads the provider's part of
//
//	unicloud_openapi weixin {
//		app_id       <appid>
//		secret       <secret>
//		app          <appid> <secret>      # repeatable
//		h5_app_id    <appid>
//		h5_secret    <secret>
//		mobile_app_id <appid>
//		mobile_secret <secret>
//		web_app_id   <appid>
//		web_secret   <secret>
//		endpoint     <url>
//		token_mode   stable|classic
//		access_token <token>
//		allow_raw    <path-prefix...>      # repeatable
//		expose_session_key
//		expose_user_token
//	}
//
// (allow, timeout and max_body are the host's).
func (wx *Weixin) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider's name
	for d.NextBlock(0) {
		switch dir := d.Val(); dir {
		case "app_id", "secret", "h5_app_id", "h5_secret", "mobile_app_id", "mobile_secret", "web_app_id", "web_secret",
			"endpoint", "token_mode", "access_token":
			if err := handlers.StringArg(d, map[string]*string{
				"app_id": &wx.AppID, "secret": &wx.Secret, "h5_app_id": &wx.H5AppID, "h5_secret": &wx.H5Secret,
				"mobile_app_id": &wx.MobileAppID, "mobile_secret": &wx.MobileSecret, "web_app_id": &wx.WebAppID, "web_secret": &wx.WebSecret,
				"endpoint": &wx.Endpoint, "token_mode": &wx.TokenMode, "access_token": &wx.AccessToken,
			}[dir]); err != nil {
				return err
			}
		case "app":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Err("app takes an appid and a secret")
			}
			wx.Apps = append(wx.Apps, App{AppID: args[0], Secret: args[1]})
		case "allow_raw":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			wx.AllowRaw = append(wx.AllowRaw, args...)
		case "expose_session_key":
			if d.NextArg() {
				return d.ArgErr()
			}
			wx.ExposeSessionKey = true
		case "expose_user_token":
			if d.NextArg() {
				return d.ArgErr()
			}
			wx.ExposeUserToken = true
		default:
			return d.Errf("unknown subdirective %q", dir)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Weixin)(nil)
