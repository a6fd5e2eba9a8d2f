package handlers

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/signing"
)

// Configuration values shared by the handlers: placeholders, keys given
// where their content belongs, and the rules a value must follow to work.

// onePlaceholder matches a value that is a single {env.*} or {file.*}
// placeholder: only such a value is quoted in an error (it names a variable
// or a path, not a secret).
var onePlaceholder = regexp.MustCompile(`^\{(env|file)\.[^{}]+\}$`)

// ResolveSecret resolves the {env.*} and {file.*} placeholders of the
// value of option name and trims it. A value that was given but resolves to
// nothing is refused: a missing file or an unset variable would otherwise
// become an empty secret, and a vague error later.
func ResolveSecret(name, raw string) (string, error) {
	v := strings.TrimSpace(caddy.NewReplacer().ReplaceAll(raw, ""))
	raw = strings.TrimSpace(raw)
	if v != "" || raw == "" {
		return v, nil
	}
	switch {
	case onePlaceholder.MatchString(raw) && strings.HasPrefix(raw, "{file."):
		return "", fmt.Errorf("%s: %s resolved to an empty value (missing or empty file?)", name, raw)
	case onePlaceholder.MatchString(raw):
		return "", fmt.Errorf("%s: %s resolved to an empty value (unset or empty environment variable?)", name, raw)
	}
	return "", fmt.Errorf("%s: the value resolved to an empty value (an unset placeholder?)", name)
}

// ResolveKey is ResolveSecret for an option that holds key or certificate
// content (PEM or base64): a file path given in its place is refused with
// the placeholder that reads the file.
func ResolveKey(name, raw string) (string, error) {
	v, err := ResolveSecret(name, raw)
	if err != nil {
		return "", err
	}
	if signing.LooksLikePath(v) {
		// A path is not secret: quoting it shows the fix.
		return "", fmt.Errorf("%s: %q looks like a file path: use {file.%s}", name, v, v)
	}
	return v, nil
}

// Option is one configuration value to resolve: its subdirective, where
// it is kept, and whether it holds key or certificate content.
type Option struct {
	Name  string
	Value *string
	Key   bool
}

// ResolveOptions resolves the placeholders of opts in order; the first
// error names its subdirective after prefix (the directive).
func ResolveOptions(prefix string, opts ...Option) error {
	for _, o := range opts {
		resolve := ResolveSecret
		if o.Key {
			resolve = ResolveKey
		}
		v, err := resolve(o.Name, *o.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		*o.Value = v
	}
	return nil
}

// CheckV2Key checks a WeChat Pay APIv2 key: the 32 characters set in the
// merchant platform (账户中心 → API安全). Its value is never quoted.
func CheckV2Key(name, key string) error {
	if n := utf8.RuneCountInString(key); n != 32 {
		return fmt.Errorf("%s must be 32 characters (the APIv2 key set in the merchant platform), not %d", name, n)
	}
	return nil
}

// CheckAPIv3Key checks a WeChat Pay APIv3 key: 32 bytes, the AES-256-GCM
// key. Its value is never quoted.
func CheckAPIv3Key(name, key string) error {
	if len(key) != 32 {
		return fmt.Errorf("%s must be 32 bytes (the APIv3 key set in the merchant platform), not %d", name, len(key))
	}
	return nil
}

// CheckHTTPURL checks that value is an absolute http or https URL with a
// host: a notify_url the provider calls from the internet, or an endpoint.
func CheckHTTPURL(name, value string) error {
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http(s) URL such as https://example.com/notify, not %q", name, value)
	}
	return nil
}

// publicListenAddrs returns the listen addresses of listen (a Caddy
// server's Listen) that accept connections from beyond loopback and
// private networks: all interfaces, a public IP, or a host name.
func publicListenAddrs(listen []string) []string {
	var out []string
	for _, l := range listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil {
			out = append(out, l)
			continue
		}
		if na.IsUnixNetwork() || na.IsFdNetwork() {
			continue
		}
		host := strings.TrimSuffix(strings.TrimPrefix(na.Host, "["), "]")
		if strings.EqualFold(host, "localhost") {
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err == nil {
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsPrivate() {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

// WarnPublicListen logs once, at load, that directive (a handler whoever
// reaches can misuse: it refunds) is served beyond loopback and private
// networks.
func WarnPublicListen(logger *zap.Logger, directive string, listen []string) {
	if public := publicListenAddrs(listen); len(public) > 0 {
		logger.Warn(directive+" is reachable beyond loopback and private networks, and whoever reaches it can refund: "+
			"add `bind 127.0.0.1` to its site, or put authentication in front of it",
			zap.Strings("listen", public))
	}
}
