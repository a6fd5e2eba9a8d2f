// Package unicloud is the Caddy shell of caddy-unicloud: it registers the
// plugin's HTTP handler modules and their Caddyfile directives.
package unicloud
