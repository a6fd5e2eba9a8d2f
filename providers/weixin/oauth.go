package weixin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tidwall/gjson"
)

// Web authorization (网页授权) and open-platform login: an official
// account's page, a mobile app and a website app exchange a user's code for
// a user access token at /sns/oauth2/access_token and read the profile at
// /sns/userinfo with it. The user tokens are the gateway's (UserTokens);
// UserInfo refreshes an expired or refused one once.

// OAuthCode2Session calls /sns/oauth2/access_token with the platform app's
// secret. WeChat's code errors (40029 invalid, 40163 used, 42003 expired)
// are the answer's ErrCode.
func (c *Client) OAuthCode2Session(ctx context.Context, app App, code string) (*Answer, error) {
	q := url.Values{"appid": {app.ID}, "secret": {app.Secret}, "code": {code}, "grant_type": {"authorization_code"}}
	return c.oauthGet(ctx, "/sns/oauth2/access_token", q)
}

// OAuthRefresh calls /sns/oauth2/refresh_token (40030 invalid, 42002
// expired refresh_token are the answer's ErrCode).
func (c *Client) OAuthRefresh(ctx context.Context, appid, refreshToken string) (*Answer, error) {
	q := url.Values{"appid": {appid}, "grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	return c.oauthGet(ctx, "/sns/oauth2/refresh_token", q)
}

// OAuthUserInfo calls /sns/userinfo with a user access token; lang is
// zh_CN, zh_TW, en or empty.
func (c *Client) OAuthUserInfo(ctx context.Context, accessToken, openid, lang string) (*Answer, error) {
	q := url.Values{"access_token": {accessToken}, "openid": {openid}}
	if lang != "" {
		q.Set("lang", lang)
	}
	return c.oauthGet(ctx, "/sns/userinfo", q)
}

func (c *Client) oauthGet(ctx context.Context, path string, q url.Values) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint()+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, &UpstreamError{Reason: "bad provider request"}
	}
	a, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if !a.JSON {
		return nil, &UpstreamError{Reason: path + " answer is not JSON"}
	}
	return a, nil
}

// UserTokenFromAnswer reads the user token of an access_token or
// refresh_token answer (errcode 0) fetched at start. prev, when set, is the
// token being refreshed: its refresh_token is kept if WeChat sends none.
func UserTokenFromAnswer(body []byte, start time.Time, prev *UserToken) (UserToken, bool) {
	t := UserToken{
		AccessToken:  gjson.GetBytes(body, "access_token").String(),
		RefreshToken: gjson.GetBytes(body, "refresh_token").String(),
		Scope:        gjson.GetBytes(body, "scope").String(),
	}
	exp := gjson.GetBytes(body, "expires_in").Int()
	if t.AccessToken == "" || exp <= 0 {
		return UserToken{}, false
	}
	t.ExpiresAt = start.Add(time.Duration(exp) * time.Second)
	if prev != nil {
		if t.RefreshToken == "" {
			t.RefreshToken = prev.RefreshToken
		}
		if t.Scope == "" {
			t.Scope = prev.Scope
		}
	}
	return t, true
}

// ErrUserTokenNotFound: no user token is kept for the openid (the user has
// not logged in through this platform, or the login is too old).
var ErrUserTokenNotFound = errors.New("no user access token kept for this openid")

// userTokenRejected: /sns/userinfo refused the user access token (invalid,
// expired, not the latest).
func userTokenRejected(code int64) bool {
	switch code {
	case 40001, 40014, 42001:
		return true
	}
	return false
}

// UserInfoResult says what UserInfo did besides answering.
type UserInfoResult struct {
	// Refreshed: the kept token was refreshed (once).
	Refreshed bool
	// Dropped: the refresh was refused and the kept tokens are gone; the
	// answer is WeChat's refusal.
	Dropped bool
}

// UserInfo calls /sns/userinfo for openid of app with the user token kept
// in tokens. When that token is past its expiry (less tokens' margin) or
// userinfo refuses it (40001, 40014, 42001), the refresh_token is used
// once: on success the new token is kept and userinfo called again; on a
// refusal the kept tokens are dropped and the refusal is the answer. With
// no kept token: ErrUserTokenNotFound, and no provider call.
func (c *Client) UserInfo(ctx context.Context, tokens *UserTokens, app App, openid, lang string) (*Answer, UserInfoResult, error) {
	var res UserInfoResult
	endpoint := c.endpoint()
	tok, ok := tokens.Get(ctx, endpoint, app.ID, openid)
	if !ok {
		return nil, res, ErrUserTokenNotFound
	}
	if !tokens.Expired(tok) {
		ans, err := c.OAuthUserInfo(ctx, tok.AccessToken, openid, lang)
		if err != nil || !userTokenRejected(ans.ErrCode) {
			return ans, res, err
		}
	}
	if tok.RefreshToken == "" {
		tokens.Delete(ctx, endpoint, app.ID, openid)
		return nil, UserInfoResult{Dropped: true}, ErrUserTokenNotFound
	}
	fresh, refreshed, err := tokens.Refresh(ctx, endpoint, app.ID, openid, tok, func(ctx context.Context, stale UserToken) (UserToken, error) {
		start := tokens.now()
		ans, err := c.OAuthRefresh(ctx, app.ID, stale.RefreshToken)
		if err != nil {
			return stale, err
		}
		fresh, ok := UserTokenFromAnswer(ans.Body, start, &stale)
		if ans.ErrCode != 0 || !ok {
			tokens.Delete(ctx, endpoint, app.ID, openid)
			if ans.ErrCode == 0 {
				return stale, &UpstreamError{Reason: "refresh_token answer without access_token"}
			}
			return stale, &refreshRefused{ans}
		}
		tokens.Put(ctx, endpoint, app.ID, openid, fresh)
		return fresh, nil
	})
	res.Refreshed = refreshed
	var refused *refreshRefused
	if errors.As(err, &refused) {
		res.Dropped = true
		return refused.ans, res, nil
	}
	if err != nil {
		return nil, res, err
	}
	ans, err := c.OAuthUserInfo(ctx, fresh.AccessToken, openid, lang)
	return ans, res, err
}

// refreshRefused carries WeChat's refusal of a refresh_token (the kept
// tokens were dropped) to every caller waiting for that refresh.
type refreshRefused struct{ ans *Answer }

func (e *refreshRefused) Error() string { return "refresh_token refused" }

// oauthCode2Session and oauthUserInfo are the login rows of platform p
// (h5: official account, app: mobile app, web: website app).
func oauthCode2Session(p string) API {
	return API{
		Name: p + ".oauth.code2Session", Kind: KindOAuthCode2Session, Method: "GET", Path: "/sns/oauth2/access_token",
		Params: []Param{{Name: "code", Type: String, Required: true}},
	}
}

func oauthUserInfo(p string) API {
	return API{
		Name: p + ".oauth.getUserInfo", Kind: KindOAuthUserInfo, Method: "GET", Path: "/sns/userinfo",
		Params: []Param{{Name: "openid", Type: String, Required: true}, {Name: "lang", Type: String}},
	}
}
