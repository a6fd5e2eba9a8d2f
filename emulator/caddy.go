package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Handler is the unicloud_emulator HTTP handler: a terminal handler that
// answers like api.weixin.qq.com for the configured test apps (see Config
// and Server), for tests and offline examples. Never needed in production.
//
// Its state (tokens, sessions, media, counters) survives config reloads
// that keep the same configuration.
//
// It answers loopback clients only (its hooks pay orders and send
// notifications): a site address such as http://127.0.0.1:9100 is only a
// Host matcher, and the listener binds every interface unless the site has
// `bind 127.0.0.1`.
type Handler struct {
	Config

	// AllowRemote serves clients that are not on a loopback address too
	// (a test network with the emulator on another machine). Default: off,
	// such clients get 403.
	AllowRemote bool `json:"allow_remote,omitempty"`

	// Backend makes the handler a demo backend instead of an emulator: it
	// logs each request it receives (the body and the X-Unicloud-* headers,
	// as one INFO line) and answers 204. Behind unicloud_payment_notify it
	// shows the verified notifications. No other option goes with it.
	Backend bool `json:"backend,omitempty"`

	key    string
	srv    *Server
	logger *zap.Logger
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
	h.logger = ctx.Logger()
	if h.Backend {
		return nil
	}
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
	cfg.WeixinOpenApps = replaceAll(h.WeixinOpenApps)
	cfg.WeixinXpay = replaceXpay(repl, h.WeixinXpay)

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
	if h.Backend {
		if h.WeixinApps != nil || h.WeixinOfficialAccounts != nil || h.WeixinOpenApps != nil || h.TokenTTL != 0 || h.TokenGrace != 0 ||
			h.Latency != 0 || h.WxpayMerchants != nil || h.AlipayApps != nil || h.AlipayTestPKI != "" || h.WxpayV3Merchants != nil || h.WeixinXpay != nil {
			return fmt.Errorf("unicloud_emulator: backend takes no other option (give the demo backend its own site)")
		}
		return nil
	}
	for _, apps := range []map[string]string{h.srv.cfg.WeixinApps, h.srv.cfg.WeixinOfficialAccounts, h.srv.cfg.WeixinOpenApps} {
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
	if err := h.srv.validateAlipay(); err != nil {
		return fmt.Errorf("unicloud_emulator: %w", err)
	}
	if err := h.srv.validateXpay(); err != nil {
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
	if !h.AllowRemote && !fromLoopback(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "unicloud_emulator answers loopback clients only, and this request came from "+remoteIP(r)+
			": call it on 127.0.0.1, or set allow_remote to serve other clients\n")
		return nil
	}
	if h.Backend {
		h.serveBackend(w, r)
		return nil
	}
	h.srv.ServeHTTP(w, r)
	return nil
}

// fromLoopback reports whether the request's connection comes from a
// loopback address (or a Unix socket, local by nature).
func fromLoopback(r *http.Request) bool {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && strings.HasPrefix(la.Network(), "unix") {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return ap.Addr().Unmap().IsLoopback()
}

// remoteIP is the client's address without its port, for the 403 text.
func remoteIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return "an unknown address"
}

// maxBackendBody bounds what the demo backend reads and logs: a
// notification is far smaller (unicloud_payment_notify's max_body defaults
// to 64KiB).
const maxBackendBody = 1 << 20

// serveBackend logs one received request as an INFO line and answers 204:
// what a backend behind unicloud_payment_notify would save.
func (h *Handler) serveBackend(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBackendBody))
	if err != nil {
		http.Error(w, "unicloud_emulator backend: unreadable body (at most 1MiB): "+err.Error(), http.StatusBadRequest)
		return
	}
	headers := map[string]string{}
	for name, vals := range r.Header {
		if strings.HasPrefix(name, "X-Unicloud-") {
			headers[name] = strings.Join(vals, ", ")
		}
	}
	fields := []zap.Field{
		zap.String("method", r.Method),
		zap.String("uri", r.RequestURI),
		zap.Any("headers", headers),
	}
	if json.Valid(body) {
		fields = append(fields, zap.Reflect("body", json.RawMessage(body)))
	} else {
		fields = append(fields, zap.String("body", string(body)))
	}
	h.logger.Info("backend received", fields...)
	w.WriteHeader(http.StatusNoContent)
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
