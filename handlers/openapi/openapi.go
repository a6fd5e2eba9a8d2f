// Package openapi is the host of unicloud_openapi: HTTP in and out for calls
// to the providers' server APIs (method, body bound, API name, allow list,
// error answers, metrics), with the provider loaded as a guest module from
// unicloud.openapi.providers.
package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/handlers"
)

func init() {
	caddy.RegisterModule(OpenAPI{})
}

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxBody = 2 << 20
)

// OpenAPI is the gateway to the providers' server APIs (`unicloud_openapi`):
// callers send camelCase JSON, the provider module adds the secret or a
// cached access token, calls the provider in its own dialect and answers
// camelCase. Secrets and the gateway's tokens never leave it.
//
// JSON: {"handler":"unicloud_openapi","provider":{"name":"weixin","app_id":"…","secret":"…"},"allow":["auth.*"]}.
type OpenAPI struct {
	// ProviderRaw is the provider, a module of the namespace
	// unicloud.openapi.providers named by its "name" member (weixin,
	// alipay, or a plugin's).
	ProviderRaw json.RawMessage `json:"provider,omitempty" caddy:"namespace=unicloud.openapi.providers inline_key=name"`
	// Allow lists the API names (or path.Match globs such as "auth.*") that
	// callers may use; an API is allowed when a pattern matches its name
	// or one of its aliases. Default: every API of the provider but those
	// it keeps off by default (weixin's auth.getAccessToken).
	Allow []string `json:"allow,omitempty"`
	// Timeout bounds each call to the provider (default 10s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxBody bounds a caller's request body in bytes (default: the
	// provider's, 2 MB for weixin, 64 KB for alipay).
	MaxBody int64 `json:"max_body,omitempty"`

	provider Provider
	name     string            // the provider's metrics label
	names    map[string]string // every API name and alias -> API name
	allow    map[string]bool   // API names callers may use
	suggest  func(string) (string, bool)
	maxParts int
	calls    *callCounters
	logger   *zap.Logger
}

// Provider is what a guest module of unicloud.openapi.providers
// implements.
type Provider interface {
	// Describe is called once, after the module's Provision: the host
	// hands its settings, the provider describes itself.
	Describe(Settings) Info
	// Serve answers one call of an allowed API (its Info name). ctx is
	// bounded by the host's timeout; r.Body is bounded by max_body (read
	// errors become answers with handlers.BodyError). An error that is a
	// *handlers.Error is answered in the documented shape; outcome labels
	// the metrics ("ok", "provider_error").
	Serve(ctx context.Context, w http.ResponseWriter, r *http.Request, api string) (outcome string, err error)
}

// Settings are the host's settings a provider may need.
type Settings struct {
	// Timeout bounds each provider call, token fetches included.
	Timeout time.Duration
}

// Info describes a provider to its host.
type Info struct {
	// Name labels metrics and logs ("weixin", "alipay").
	Name string
	// APIs are the APIs the provider serves.
	APIs []API
	// MaxBody is the default max_body (0: DefaultMaxBody).
	MaxBody int64
	// Suggest, when set, names the API nearest to an unknown name (the
	// "did you mean" of a 404).
	Suggest func(name string) (string, bool)
}

// API is one API a provider serves.
type API struct {
	// Name is the caller's name, as "auth.code2Session".
	Name    string
	Aliases []string
	// OffByDefault: allowed only when an allow pattern names it.
	OffByDefault bool
}

// CaddyModule returns the Caddy module information.
func (OpenAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.unicloud_openapi",
		New: func() caddy.Module { return new(OpenAPI) },
	}
}

// Provision loads the provider, applies defaults and resolves the allow
// patterns against the provider's APIs.
func (h *OpenAPI) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.ProviderRaw == nil {
		return errors.New(`unicloud_openapi: a provider is required, for example {"name":"weixin",…}`)
	}
	if h.Timeout <= 0 {
		h.Timeout = caddy.Duration(DefaultTimeout)
	}
	p, err := handlers.ProvisionGuest[Provider](ctx, h, "unicloud_openapi", "an openapi provider")
	if err != nil {
		return err
	}
	h.provider = p
	info := p.Describe(Settings{Timeout: time.Duration(h.Timeout)})
	h.name, h.suggest = info.Name, info.Suggest
	if h.MaxBody <= 0 {
		h.MaxBody = info.MaxBody
		if h.MaxBody <= 0 {
			h.MaxBody = DefaultMaxBody
		}
	}
	h.names, h.allow = resolveAllow(info.APIs, h.Allow)
	h.maxParts = 1
	for n := range h.names {
		h.maxParts = max(h.maxParts, strings.Count(n, ".")+1)
	}
	for _, pattern := range h.Allow {
		if _, err := path.Match(pattern, ""); err != nil {
			continue // Validate says so
		}
		if _, allow := resolveAllow(info.APIs, []string{pattern}); len(allow) == 0 {
			h.logger.Warn("allow pattern matches no API", zap.String("pattern", pattern))
		}
	}
	handlers.RegisterCollectors(ctx.GetMetricsRegistry(), handlers.OpenAPICalls, handlers.TokenFetches, handlers.ProviderErrors)
	h.calls = newCallCounters(h.name)
	return nil
}

// Validate checks the host's own fields (the provider validates its own).
func (h *OpenAPI) Validate() error {
	for _, pattern := range h.Allow {
		if _, err := path.Match(pattern, ""); err != nil {
			return fmt.Errorf("unicloud_openapi: bad allow pattern %q", pattern)
		}
	}
	return nil
}

// resolveAllow resolves the allow patterns against the provider's APIs
// once, so that a call costs one map lookup. It returns every name and
// alias with its API's name, and the API names callers may use.
func resolveAllow(apis []API, patterns []string) (names map[string]string, allow map[string]bool) {
	names = make(map[string]string)
	allow = make(map[string]bool)
	for _, a := range apis {
		all := append([]string{a.Name}, a.Aliases...)
		ok := len(patterns) == 0 && !a.OffByDefault
		for _, n := range all {
			names[n] = a.Name
			for _, pattern := range patterns {
				if m, _ := path.Match(pattern, n); m {
					ok = true
				}
			}
		}
		if ok {
			allow[a.Name] = true
		}
	}
	return names, allow
}

// ServeHTTP answers one API call. It is a terminal handler: next is not
// called.
func (h *OpenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	api, known := h.lookup(r.URL.Path)
	label := "unknown"
	if known {
		label = api
	}
	ignored := r.Method == http.MethodGet && r.ContentLength != 0
	if ignored {
		// A GET's parameters are its query string; its body is not
		// read. The call is still served (a library that sends "{}"
		// with every GET keeps working), and the caller is told.
		w.Header().Set("X-Unicloud-Warning", getBodyIgnored)
	}
	outcome, err := h.serve(w, r, api, known)
	if err != nil {
		var ge *handlers.Error
		if ignored && errors.As(err, &ge) && ge.Code == handlers.ErrBadRequest {
			ge.Msg += " (" + getBodyIgnored + ")"
		}
		outcome = handlers.FailCall(w, h.logger, err, zap.String("api", label))
	}
	h.calls.inc(label, outcome)
	return nil
}

// getBodyIgnored is the warning of a GET call that came with a body.
const getBodyIgnored = "the body of a GET request is ignored: send parameters in the query string, or use POST with a JSON body"

func (h *OpenAPI) serve(w http.ResponseWriter, r *http.Request, api string, known bool) (string, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		// HEAD or OPTIONS must not spend a login code or send a message.
		w.Header().Set("Allow", "GET, POST")
		return "", handlers.NewError(http.StatusMethodNotAllowed, handlers.ErrBadRequest, "calls are GET or POST requests")
	}
	if !known {
		return "", h.unknownAPI(r.URL.Path)
	}
	if !h.allow[api] {
		return "", handlers.NewError(http.StatusForbidden, handlers.ErrAPINotAllowed, "API not allowed: "+api)
	}
	if r.Body != nil && r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(nil, r.Body, h.MaxBody)
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
	defer cancel()
	return h.provider.Serve(ctx, w, r, api)
}

// lookup finds the API named by the request path: the path after the route
// prefix, with slashes or dots. A prefix that was not stripped (`handle
// /wx/*` rather than `handle_path`) is skipped. Only as many trailing
// segments as the longest name has parts can name an API, so a path of many
// thousands of segments costs no more than a short one.
func (h *OpenAPI) lookup(p string) (string, bool) {
	p = strings.Trim(p, "/")
	start, pos := 0, len(p)
	for n := 0; n < h.maxParts; n++ {
		i := strings.LastIndexByte(p[:pos], '/')
		if i < 0 {
			start = 0
			break
		}
		pos, start = i, i+1
	}
	tail := p[start:]
	dotted := strings.ReplaceAll(tail, "/", ".")
	for i := 0; ; {
		if a, ok := h.names[dotted[i:]]; ok {
			return a, true
		}
		j := strings.IndexByte(tail[i:], '/')
		if j < 0 {
			return "", false
		}
		i += j + 1
	}
}

// unknownAPI is the answer to a path that names no API, with the nearest
// name when one is close: the longest path suffix that is near one wins, as
// lookup skips an unstripped route prefix.
func (h *OpenAPI) unknownAPI(p string) error {
	name := strings.Trim(p, "/")
	msg := "unknown API: " + name
	if h.suggest != nil {
		segs := strings.Split(name, "/")
		for i := max(0, len(segs)-h.maxParts); i < len(segs); i++ {
			if s, ok := h.suggest(strings.Join(segs[i:], ".")); ok {
				msg += " (did you mean " + s + "?)"
				break
			}
		}
	}
	return handlers.NewError(http.StatusNotFound, handlers.ErrAPINotFound, msg)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*OpenAPI)(nil)
	_ caddy.Validator             = (*OpenAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*OpenAPI)(nil)
)
