package handlers

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/weixin"
)

// WeixinState is the WeChat state one process shares between every handler and config: the token authority (one
// token per endpoint and appid) and the session keys code2Session returned. It outlives config reloads.
type WeixinState struct {
	Tokens   *weixin.TokenManager
	Sessions *weixin.SessionKeys
	// UserTokens are the web authorization / open-platform login tokens (<p>.oauth.*).
	UserTokens *weixin.UserTokens
}

// Destruct releases the caches.
func (s *WeixinState) Destruct() error {
	s.Tokens.Close()
	s.Sessions.Close()
	s.UserTokens.Close()
	return nil
}

var weixinPool = caddy.NewUsagePool()

const weixinStateKey = "unicloud.weixin"

// AcquireWeixinState takes the process's WeChat state and lends it ctx's storage (shared between instances) while
// the caller holds it; release gives both back and may be called once.
func AcquireWeixinState(ctx caddy.Context, log *zap.Logger) (*WeixinState, func(), error) {
	val, _, err := weixinPool.LoadOrNew(weixinStateKey, func() (caddy.Destructor, error) {
		tm, err := weixin.NewTokenManager(nil)
		if err != nil {
			return nil, err
		}
		tm.Events.Fetch = func(kind weixin.Credential, result string) {
			TokenFetches.WithLabelValues("weixin", string(kind), result).Inc()
		}
		tm.Events.Shared = func(kind weixin.Credential) { TokenFetches.WithLabelValues("weixin", string(kind), "shared").Inc() }
		sk, err := weixin.NewSessionKeys(nil)
		if err != nil {
			tm.Close()
			return nil, err
		}
		ut, err := weixin.NewUserTokens(nil)
		if err != nil {
			tm.Close()
			sk.Close()
			return nil, err
		}
		return &WeixinState{Tokens: tm, Sessions: sk, UserTokens: ut}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	st := val.(*WeixinState)
	releaseStorage := func() {}
	if storage := ContextStorage(ctx); storage != nil {
		releaseTokens := st.Tokens.UseStorage(storage, log)
		releaseSessions := st.Sessions.UseStorage(storage, log)
		releaseUsers := st.UserTokens.UseStorage(storage, log)
		releaseStorage = func() { releaseTokens(); releaseSessions(); releaseUsers() }
	}
	return st, func() {
		releaseStorage()
		_, _ = weixinPool.Delete(weixinStateKey)
	}, nil
}
