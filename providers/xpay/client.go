package xpay

import (
	"context"
	"net/url"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// Caller sends a server call: POST body, exactly these bytes, to path with query (pay_sig, signature) and the
// app's access token (access_token). On a token error (40001, 40014, 42001) it drops the token, gets a fresh one
// and resends the same body and query once. It returns WeChat's answer, a JSON object, or a *pay.Error (kind
// ErrTokenUnavailable, pay.ErrUpstream or pay.ErrUpstreamTimeout).
type Caller interface {
	Post(ctx context.Context, path string, query url.Values, body []byte) ([]byte, error)
}

// Call makes the call name (getOrderInfo, or a row of APIs) with the caller's parameters and returns the caller's
// answer. A call of Unsupported is a pay.ErrNotSupported error, any other unknown name an ErrUnknownCall one;
// neither sends anything.
func (c *Client) Call(ctx context.Context, name string, p pay.Params) (pay.Answer, error) {
	if name == "getOrderInfo" {
		return c.GetOrderInfo(ctx, p)
	}
	api, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	body, err := BuildRequest(api, p, c.Env)
	if err != nil {
		return nil, err
	}
	q := url.Values{"pay_sig": {PaySig(c.Key(), api.Path, body)}}
	if api.UserSignature {
		openid, _ := p.Str("openid")
		sk, err := c.sessionKey(ctx, openid)
		if err != nil {
			return nil, err
		}
		q.Set("signature", Signature(sk, body))
	}
	raw, err := c.Caller.Post(ctx, api.Path, q, body)
	if err != nil {
		return nil, err
	}
	return MapAnswer(api, raw)
}

// Lookup finds the row of a call name.
func Lookup(name string) (*API, error) {
	if Unsupported[name] {
		return nil, pay.NotSupported(name + " has no equivalent in WeChat virtual payment")
	}
	api, ok := APIs[name]
	if !ok {
		return nil, &pay.Error{Kind: ErrUnknownCall, Msg: "no such call: " + name}
	}
	return api, nil
}
