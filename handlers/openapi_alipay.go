package handlers

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

// The Alipay side of unicloud_openapi (auth.code2Session through
// alipay.system.oauth.token) is built by the payment issue; until then the
// provider is refused at provisioning, so a config never half-works.

func (h *OpenAPI) provisionAlipay(ctx caddy.Context) error {
	return errors.New("unicloud_openapi alipay: not available in this build yet")
}

func (h *OpenAPI) validateAlipay() error { return nil }

func (h *OpenAPI) serveAlipay(w http.ResponseWriter, r *http.Request) error {
	writeError(w, http.StatusNotImplemented, ErrNotSupported, "unicloud_openapi alipay is not available in this build")
	return nil
}
