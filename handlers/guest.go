package handlers

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// GuestKey is the inline key that names a host's provider module in JSON:
//
//	{"handler": "unicloud_payment", "provider": {"name": "wxpay_v3", …}}
//
// as reverse_proxy's {"transport": {"protocol": "http", …}}.
const GuestKey = "name"

// GuestBlock is the part of a host directive's block that belongs to its
// provider (guest) module: every subdirective the host did not take, with
// its arguments and nested blocks, in the order written.
type GuestBlock struct {
	tokens []caddyfile.Token
}

// SplitBlock reads a host directive of the short form every host shares,
//
//	<directive> <provider> {
//		<host subdirective> …
//		<provider subdirective> …
//	}
//
// from d, positioned on the directive's name (as Caddy hands it to
// UnmarshalCaddyfile). host is called for each subdirective with d on its
// name; it reads the subdirective's arguments and returns true when the
// subdirective is the host's, or returns false without reading anything to
// leave it to the provider. SplitBlock returns the provider's name and the
// provider's part of the block, for LoadGuest.
func SplitBlock(d *caddyfile.Dispenser, host func(d *caddyfile.Dispenser, dir string) (bool, error)) (string, GuestBlock, error) {
	d.Next() // the directive's name
	directive := d.Val()
	if !d.NextArg() {
		return "", GuestBlock{}, d.Errf("%s needs a provider", directive)
	}
	nameTok := d.Token()
	if d.NextArg() {
		return "", GuestBlock{}, d.ArgErr()
	}
	g := GuestBlock{tokens: []caddyfile.Token{nameTok}}
	for d.NextBlock(0) {
		if len(g.tokens) == 1 {
			brace := nameTok // same file, line and import chain
			brace.Text = "{"
			g.tokens = append(g.tokens, brace)
		}
		dir := d.Val()
		taken, err := host(d, dir)
		if err != nil {
			return "", GuestBlock{}, err
		}
		if !taken {
			g.tokens = append(g.tokens, d.NextSegment()...)
		}
	}
	if len(g.tokens) > 1 {
		closing := g.tokens[len(g.tokens)-1]
		closing.Line++
		closing.Text = "}"
		g.tokens = append(g.tokens, closing)
	}
	return nameTok.Text, g, nil
}

// LoadGuest hands the provider's part of the block to the module
// <namespace>.<id>'s UnmarshalCaddyfile and returns the module's JSON, with
// GuestKey set to id. known lists the providers the host ships, for the
// error when id names no registered module.
func LoadGuest(d *caddyfile.Dispenser, g GuestBlock, namespace, id string, known ...string) (json.RawMessage, error) {
	modID := namespace + "." + id
	if _, err := caddy.GetModule(modID); err != nil {
		return nil, d.Errf("unknown provider %q: %s (or a plugin's module in %s)", id, strings.Join(known, ", "), namespace)
	}
	gd := caddyfile.NewDispenser(g.tokens)
	gd.Next() // UnmarshalModule reads the segment from the current token
	unm, err := caddyfile.UnmarshalModule(gd, modID)
	if err != nil {
		return nil, err
	}
	return caddyconfig.JSONModuleObject(unm, GuestKey, id, nil), nil
}

// ProvisionGuest loads the provider module of host (a host module whose
// ProviderRaw field holds the provider's JSON) and checks that it is a P,
// the host's provider interface. Errors start with the directive; what
// names the interface ("a payment provider").
func ProvisionGuest[P any](ctx caddy.Context, host any, directive, what string) (P, error) {
	var zero P
	mod, err := ctx.LoadModule(host, "ProviderRaw")
	if err != nil {
		return zero, fmt.Errorf("%s: loading the provider: %w", directive, err)
	}
	p, ok := mod.(P)
	if !ok {
		return zero, fmt.Errorf("%s: module %T is not %s", directive, mod, what)
	}
	return p, nil
}
