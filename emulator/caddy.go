package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Handler is the unicloud_emulator HTTP handler: a terminal handler that
// answers like api.weixin.qq.com for the configured test apps (see Config
// and Server), for tests and offline examples. Never needed in production.
//
// Its state (tokens, sessions, media, counters) survives config reloads
// that keep the same configuration.
type Handler struct {
	Config

	key string
	srv *Server
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_emulator",
		New: func() caddy.Module { return new(Handler) },
	}
}

// servers keeps each configuration's Server across config reloads.
var servers = caddy.NewUsagePool()

type pooledServer struct{ *Server }

func (pooledServer) Destruct() error { return nil }

// Provision replaces placeholders ({env.*}, {file.*}) in appids and
// secrets and takes the Server of this configuration.
func (h *Handler) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	replaceAll := func(apps map[string]string) map[string]string {
		if apps == nil {
			return nil
		}
		out := make(map[string]string, len(apps))
		for id, secret := range apps {
			out[repl.ReplaceAll(id, "")] = repl.ReplaceAll(secret, "")
		}
		return out
	}
	cfg := h.Config
	cfg.WeixinApps = replaceAll(h.WeixinApps)
	cfg.WeixinOfficialAccounts = replaceAll(h.WeixinOfficialAccounts)

	// The pool key is a digest, so no secret is kept in it.
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	h.key = hex.EncodeToString(sum[:])
	v, _, err := servers.LoadOrNew(h.key, func() (caddy.Destructor, error) {
		return pooledServer{New(cfg)}, nil
	})
	if err != nil {
		return err
	}
	h.srv = v.(pooledServer).Server
	return nil
}

// Validate checks the configured apps and durations.
func (h *Handler) Validate() error {
	for _, apps := range []map[string]string{h.srv.cfg.WeixinApps, h.srv.cfg.WeixinOfficialAccounts} {
		for id, secret := range apps {
			if id == "" || secret == "" {
				return fmt.Errorf("unicloud_emulator: a WeChat app needs an appid and a secret (appid %q)", id)
			}
		}
	}
	for id := range h.srv.cfg.WeixinOfficialAccounts {
		if _, dup := h.srv.cfg.WeixinApps[id]; dup {
			return fmt.Errorf("unicloud_emulator: appid %q is both a mini-program and an official account", id)
		}
	}
	if h.Latency < 0 {
		return fmt.Errorf("unicloud_emulator: negative latency")
	}
	if err := h.srv.validateWxpayV3(); err != nil {
		return fmt.Errorf("unicloud_emulator: %w", err)
	}
	return nil
}

// Cleanup gives back this configuration's Server.
func (h *Handler) Cleanup() error {
	if h.key == "" {
		return nil
	}
	_, err := servers.Delete(h.key)
	return err
}

// ServeHTTP answers the request; it never calls next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	h.srv.ServeHTTP(w, r)
	return nil
}

// Server returns the emulator behind the handler (nil before Provision),
// for tests that run it inside Caddy.
func (h *Handler) Server() *Server { return h.srv }

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
