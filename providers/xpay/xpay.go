// Package xpay is WeChat mini-program virtual payment (虚拟支付, wx.requestVirtualPayment), free of Caddy: the
// pay_sig and user-state signatures, getOrderInfo's signData, and the /xpay/* server calls as a table.
package xpay

import (
	"context"
	"errors"
	"strconv"

	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// Env is WeChat's env of a virtual payment: 0 production (现网), 1 sandbox (沙箱).
type Env int

// The envs.
const (
	EnvProduction Env = 0
	EnvSandbox    Env = 1
)

// ClientURI is the uri of the client call's pay_sig: wx.requestVirtualPayment signs "requestVirtualPayment&" +
// signData.
const ClientURI = "requestVirtualPayment"

// PaySig is WeChat's pay_sig: the lowercase hex HMAC-SHA256 of uri + "&" + body keyed with the AppKey of the env
// (its UTF-8 text). uri is the path without query (/xpay/query_user_balance), or ClientURI; body the exact bytes
// sent.
func PaySig(appKey, uri string, body []byte) string {
	msg := make([]byte, 0, len(uri)+1+len(body))
	msg = append(append(append(msg, uri...), '&'), body...)
	return signing.HMACSHA256Hex([]byte(appKey), msg)
}

// Signature is WeChat's user-state signature: the lowercase hex HMAC-SHA256 of body keyed with the session key as
// code2Session returned it (the base64 text, not decoded).
func Signature(sessionKey string, body []byte) string {
	return signing.HMACSHA256Hex([]byte(sessionKey), body)
}

// The kinds of pay.Error this package adds to pay's.
var (
	// ErrSessionKeyNotFound: no session key is kept for the openid; the user must log in again (wx.login +
	// code2Session). Nothing was sent.
	ErrSessionKeyNotFound = errors.New("session key not found")
	// ErrTokenUnavailable: no access token could be obtained. Nothing was sent.
	ErrTokenUnavailable = errors.New("token unavailable")
	// ErrUnknownCall: the call is not one of the table's.
	ErrUnknownCall = errors.New("unknown call")
)

// Error is WeChat's refusal of a call: its errcode (268490003 签名错误…) and errmsg. The caller gets HTTP 200
// with errCode = Code.
type Error struct {
	Code int64
	Msg  string
}

func (e *Error) Error() string {
	return "xpay: errcode " + strconv.FormatInt(e.Code, 10) + ": " + e.Msg
}

// SessionKeys finds the session key code2Session returned for an openid of an app (providers/weixin's
// SessionKeys satisfies it).
type SessionKeys interface {
	Get(ctx context.Context, appid, openid string) (string, bool)
}

// Config is a mini-program's virtual payment configuration.
type Config struct {
	// AppID is the mini-program's appid (the session keys are kept by it).
	AppID string
	// OfferID is the 支付应用 OfferID.
	OfferID string
	// Env is the env every request is made in.
	Env Env
	// AppKey is the production AppKey, SandboxAppKey the sandbox's; only Env's is needed.
	AppKey, SandboxAppKey string
}

// Key returns the AppKey of the configured env.
func (c *Config) Key() string {
	if c.Env == EnvSandbox {
		return c.SandboxAppKey
	}
	return c.AppKey
}

// Validate checks that the configuration can sign.
func (c *Config) Validate() error {
	switch {
	case c.Env != EnvProduction && c.Env != EnvSandbox:
		return errors.New("env must be production (0) or sandbox (1)")
	case c.OfferID == "":
		return errors.New("offer_id is required")
	case c.Env == EnvProduction && c.AppKey == "":
		return errors.New("app_key is required with env production")
	case c.Env == EnvSandbox && c.SandboxAppKey == "":
		return errors.New("sandbox_app_key is required with env sandbox")
	}
	return nil
}

// Client makes the calls of one mini-program.
type Client struct {
	Config
	// Caller sends the server calls (with the access token, retried once on a token error).
	Caller Caller
	// Sessions finds the session keys of the calls that carry the user-state signature, and of getOrderInfo.
	Sessions SessionKeys
}

func (c *Client) sessionKey(ctx context.Context, openid string) (string, error) {
	if c.Sessions != nil {
		if k, ok := c.Sessions.Get(ctx, c.AppID, openid); ok && k != "" {
			return k, nil
		}
	}
	return "", &pay.Error{Kind: ErrSessionKeyNotFound,
		Msg: "no session key is kept for this openid: log the user in again (wx.login + code2Session)"}
}
