// Package handlers holds the HTTP handlers of caddy-unicloud: the openapi
// gateway, the unified payment API and the payment notification verifier.
// Caddy types live here; protocol logic lives in providers/.
package handlers
