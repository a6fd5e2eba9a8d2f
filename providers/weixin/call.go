package weixin

import (
	"context"
	"errors"
	"time"
)

// Token modes: how the authority obtains access tokens.
const (
	// TokenStable is /cgi-bin/stable_token: the same token for every
	// holder while it is valid; fetching it invalidates no other holder's.
	TokenStable = "stable"
	// TokenClassic is /cgi-bin/token: every fetch makes a new token and
	// retires the previous one after five minutes.
	TokenClassic = "classic"
)

// App is a mini-program's or official account's credentials.
type App struct {
	ID     string
	Secret string
}

// TokenUnavailableError is a call that could not be made because no access
// token could be obtained. Err is the fetch's failure (a *TokenError when
// WeChat refused, an *UpstreamError when it could not be reached).
type TokenUnavailableError struct{ Err error }

func (e *TokenUnavailableError) Error() string { return "access token: " + e.Err.Error() }
func (e *TokenUnavailableError) Unwrap() error { return e.Err }

// appToken is an app's token key and fetch function, made once per app so
// that a call served from memory allocates neither.
type appToken struct {
	secret string
	key    string
	fetch  FetchFunc
	// ticketKey and ticketFetch are the app's jsapi_ticket (ticket.go).
	ticketKey   string
	ticketFetch FetchFunc
}

// Call sends req with app's access token and reads the answer. A token the
// caller set in req.Token (their own) or the client's fixed AccessToken is
// sent as given. Otherwise the token comes from the authority and, when
// WeChat rejects it (40001, 40014, 42001), Call drops it, gets another
// (once for every call that failed with the same token) and retries once.
// After Call, req.Token is the token that was sent.
func (c *Client) Call(ctx context.Context, app App, req *Request) (*Answer, error) {
	if req.Token != "" {
		return c.Do(ctx, req)
	}
	if c.AccessToken != "" {
		req.Token = c.AccessToken
		return c.Do(ctx, req)
	}
	at, err := c.appToken(app)
	if err != nil {
		return nil, err
	}
	tok, err := c.Tokens.Token(ctx, at.key, at.fetch)
	if err != nil {
		return nil, &TokenUnavailableError{Err: err}
	}
	req.Token = tok.Value
	ans, err := c.Do(ctx, req)
	if err != nil || !ans.JSON || !ans.tokenRejected() {
		return ans, err
	}
	if c.OnTokenRejected != nil {
		c.OnTokenRejected(app.ID, ans.ErrCode)
	}
	tok, err = c.Tokens.Invalidate(ctx, at.key, tok.Value, at.fetch)
	if err != nil {
		return nil, &TokenUnavailableError{Err: err}
	}
	req.Token = tok.Value
	return c.Do(ctx, req)
}

// Token returns app's current access token: the fixed AccessToken (valid
// for two hours from now, as WeChat's), or the authority's.
func (c *Client) Token(ctx context.Context, app App) (Token, error) {
	if c.AccessToken != "" {
		now := time.Now()
		return Token{Value: c.AccessToken, FetchedAt: now, ExpiresAt: now.Add(7200 * time.Second)}, nil
	}
	at, err := c.appToken(app)
	if err != nil {
		return Token{}, err
	}
	tok, err := c.Tokens.Token(ctx, at.key, at.fetch)
	if err != nil {
		return Token{}, &TokenUnavailableError{Err: err}
	}
	return tok, nil
}

// errNoAuthority: the client has neither a token authority nor a fixed
// token, and the caller sent none.
var errNoAuthority = &TokenUnavailableError{Err: errors.New("no token authority")}

func (c *Client) appToken(app App) (*appToken, error) {
	if c.Tokens == nil {
		return nil, errNoAuthority
	}
	c.appsMu.RLock()
	at, ok := c.apps[app.ID]
	c.appsMu.RUnlock()
	if ok && at.secret == app.Secret {
		return at, nil
	}
	at = &appToken{secret: app.Secret, key: TokenKey(c.endpoint(), app.ID)}
	at.fetch = func(ctx context.Context, force bool) (Token, error) {
		timeout := c.TokenTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if c.TokenMode == TokenClassic {
			return c.FetchClassicToken(ctx, app.ID, app.Secret)
		}
		return c.FetchStableToken(ctx, app.ID, app.Secret, force)
	}
	at.ticketKey, at.ticketFetch = c.ticketCredential(app)
	c.appsMu.Lock()
	if c.apps == nil {
		c.apps = make(map[string]*appToken)
	}
	c.apps[app.ID] = at
	c.appsMu.Unlock()
	return at, nil
}
