package weixin

import (
	"context"
	"time"

	"github.com/tidwall/gjson"
)

// getTicketAPI is getticket: the official account's JS-SDK ticket, fetched
// with its access token.
var getTicketAPI = &API{Name: "jssdk.getTicket", Method: "GET", Path: "/cgi-bin/ticket/getticket", Token: TokenH5}

// TicketUnavailableError is a jsapi_ticket that could not be obtained. Err
// is the fetch's failure: a *TokenError when getticket refused (its
// errcode), a *TokenUnavailableError when the access token it needs could
// not be had, an *UpstreamError when WeChat could not be reached.
type TicketUnavailableError struct{ Err error }

func (e *TicketUnavailableError) Error() string { return "jsapi_ticket: " + e.Err.Error() }
func (e *TicketUnavailableError) Unwrap() error { return e.Err }

// Ticket returns app's (the official account's) jsapi_ticket. It is one
// more credential of the authority, held like the access token: per
// (endpoint, appid), memory then storage, one getticket for concurrent
// misses and across instances, refreshed ahead of expiry. getticket is
// sent with Call, so a refused access token (40001, 40014, 42001) is
// dropped, replaced and getticket retried once.
func (c *Client) Ticket(ctx context.Context, app App) (Token, error) {
	at, err := c.appToken(app)
	if err != nil {
		return Token{}, &TicketUnavailableError{Err: err}
	}
	t, err := c.Tokens.Token(ctx, at.ticketKey, at.ticketFetch)
	if err != nil {
		return Token{}, &TicketUnavailableError{Err: err}
	}
	return t, nil
}

// ticketCredential is app's ticket key and fetch function.
func (c *Client) ticketCredential(app App) (string, FetchFunc) {
	fetch := func(ctx context.Context, _ bool) (Token, error) {
		// force means nothing to getticket: every call issues a new
		// ticket, and the previous one stays valid until it expires.
		timeout := c.TokenTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		// The access token it may need to fetch first, and getticket.
		ctx, cancel := context.WithTimeout(ctx, 2*timeout)
		defer cancel()
		return c.fetchTicket(ctx, app)
	}
	return CredentialKey(c.endpoint(), app.ID, CredentialJSAPITicket), fetch
}

// fetchTicket calls getticket once (twice when the access token is
// refused: Call's retry).
func (c *Client) fetchTicket(ctx context.Context, app App) (Token, error) {
	start := time.Now()
	req := &Request{API: getTicketAPI, Params: map[string]any{"type": "jsapi"}}
	ans, err := c.Call(ctx, app, req)
	if err != nil {
		return Token{}, err
	}
	if !ans.JSON {
		return Token{}, &UpstreamError{Reason: "getticket answer is not JSON"}
	}
	if ans.ErrCode != 0 {
		return Token{}, &TokenError{ErrCode: ans.ErrCode, ErrMsg: gjson.GetBytes(ans.Body, "errmsg").String()}
	}
	v := gjson.GetBytes(ans.Body, "ticket").String()
	exp := gjson.GetBytes(ans.Body, "expires_in").Int()
	if v == "" || exp <= 0 {
		return Token{}, &UpstreamError{Reason: "getticket answer without ticket"}
	}
	return Token{Value: v, FetchedAt: start, ExpiresAt: start.Add(time.Duration(exp) * time.Second)}, nil
}
