package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// The auth tokens code2Session receives are the gateway's: they are kept
// by (endpoint, app_id, openid) in memory and in Caddy's storage, in the
// user-token store the WeChat logins use (its records are keyed by a hash
// of the endpoint too, so the two never meet), and auth.getUserInfo takes
// an openid.

// tokenPool holds the process's store across config reloads.
var tokenPool = caddy.NewUsagePool()

const tokenPoolKey = "unicloud.alipay.auth_tokens"

type pooledTokens struct{ *weixin.UserTokens }

func (p pooledTokens) Destruct() error { p.Close(); return nil }

// acquireTokens takes the process's auth-token store and lends it ctx's
// storage while the config holds it; release gives both back.
func acquireTokens(ctx caddy.Context, log *zap.Logger) (*weixin.UserTokens, func(), error) {
	val, _, err := tokenPool.LoadOrNew(tokenPoolKey, func() (caddy.Destructor, error) {
		ut, err := weixin.NewUserTokens(nil)
		if err != nil {
			return nil, err
		}
		return pooledTokens{ut}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	ut := val.(pooledTokens).UserTokens
	releaseStorage := func() {}
	if st := handlers.ContextStorage(ctx); st != nil {
		releaseStorage = ut.UseStorage(st, log)
	}
	return ut, func() {
		releaseStorage()
		_, _ = tokenPool.Delete(tokenPoolKey)
	}, nil
}

// tokenFrom is the auth token of a verified alipay.system.oauth.token
// answer, its life counted from start; ok is false without access_token.
func tokenFrom(fields map[string]any, start time.Time) (weixin.UserToken, bool) {
	at, _ := fields["access_token"].(string)
	if at == "" {
		return weixin.UserToken{}, false
	}
	rt, _ := fields["refresh_token"].(string)
	var secs int64
	switch v := fields["expires_in"].(type) {
	case json.Number:
		secs, _ = v.Int64()
	case string:
		secs, _ = json.Number(v).Int64()
	}
	return weixin.UserToken{AccessToken: at, RefreshToken: rt, ExpiresAt: start.Add(time.Duration(secs) * time.Second)}, true
}

// errTokenExpired is Alipay's sub_code for an auth token past its life.
const errTokenExpired = "aop.auth-token-time-out"

// refresh exchanges the kept refresh token once (grant_type=refresh_token)
// and keeps the new tokens, one refresh per user at a time (concurrent
// callers share it; a token another instance already refreshed is taken
// from the storage). A refusal drops the record: the user must log in
// again.
func (a *Alipay) refresh(ctx context.Context, openid string, tok weixin.UserToken) (weixin.UserToken, error) {
	if tok.RefreshToken == "" {
		a.tokens.Delete(ctx, a.Endpoint, a.AppID, openid)
		return tok, handlers.NewError(http.StatusBadRequest, handlers.ErrBadRequest, "the auth token kept for this openid expired: call auth.code2Session again")
	}
	next, refreshed, err := a.tokens.Refresh(ctx, a.Endpoint, a.AppID, openid, tok, func(ctx context.Context, stale weixin.UserToken) (weixin.UserToken, error) {
		start := a.tokens.Now()
		fields, err := a.client.Execute(ctx, alipay.MethodOAuthToken, nil, map[string]string{"grant_type": "refresh_token", "refresh_token": stale.RefreshToken})
		var be *alipay.BusinessError
		if errors.As(err, &be) {
			a.tokens.Delete(ctx, a.Endpoint, a.AppID, openid)
		}
		if err != nil {
			return stale, err
		}
		next, ok := tokenFrom(fields, start)
		if !ok {
			return stale, handlers.NewError(http.StatusBadGateway, handlers.ErrUpstream, "provider answered the refresh without access_token")
		}
		if next.RefreshToken == "" {
			next.RefreshToken = stale.RefreshToken
		}
		a.tokens.Put(ctx, a.Endpoint, a.AppID, openid, next)
		return next, nil
	})
	if err == nil && refreshed {
		a.logger.Info("auth token expired; refreshed once", zap.String("app_id", a.AppID))
	}
	return next, err
}
