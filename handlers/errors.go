package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// Gateway error codes (SPEC §2 and §4). Provider errors keep the provider's
// own code; these are the errors of the gateway itself.
const (
	ErrAPINotFound          = "UNICLOUD_API_NOT_FOUND"
	ErrAPINotAllowed        = "UNICLOUD_API_NOT_ALLOWED"
	ErrAppNotFound          = "UNICLOUD_APP_NOT_FOUND"
	ErrBadRequest           = "UNICLOUD_BAD_REQUEST"
	ErrBodyTooLarge         = "UNICLOUD_BODY_TOO_LARGE"
	ErrTokenUnavailable     = "UNICLOUD_TOKEN_UNAVAILABLE"
	ErrUpstream             = "UNICLOUD_UPSTREAM_ERROR"
	ErrUpstreamTimeout      = "UNICLOUD_UPSTREAM_TIMEOUT"
	ErrUpstreamBadSignature = "UNICLOUD_UPSTREAM_BAD_SIGNATURE"
	ErrNotSupported         = "UNICLOUD_NOT_SUPPORTED"
)

// gatewayError is an error of the gateway itself, answered to the caller as
// {"errCode": Code, "errMsg": Msg} with HTTP status Status. Msg must never
// contain a secret or a token.
type gatewayError struct {
	Status int
	Code   string
	Msg    string
}

func (e *gatewayError) Error() string { return e.Code + ": " + e.Msg }

func newError(status int, code, msg string) *gatewayError {
	return &gatewayError{Status: status, Code: code, Msg: msg}
}

// writeError answers a gateway error in the documented shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(struct {
		ErrCode string `json:"errCode"`
		ErrMsg  string `json:"errMsg"`
	}{code, msg})
	writeJSON(w, status, body)
}

// writeJSON answers a JSON body with its length set.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// failCall answers a call that ended in err, logs it (at WARN when a
// provider's answer failed its signature check, DEBUG otherwise: refusals
// are the callers' business) and returns the outcome label for metrics.
// Errors that are not gateway errors become UNICLOUD_UPSTREAM_ERROR.
func failCall(w http.ResponseWriter, logger *zap.Logger, err error, fields ...zap.Field) string {
	var ge *gatewayError
	if !errors.As(err, &ge) {
		ge = newError(http.StatusBadGateway, ErrUpstream, "provider call failed")
	}
	level := logger.Debug
	if ge.Code == ErrUpstreamBadSignature {
		level = logger.Warn
	}
	level("call refused or failed", append(fields, zap.String("err_code", ge.Code), zap.String("err_msg", ge.Msg))...)
	writeError(w, ge.Status, ge.Code, ge.Msg)
	return ge.Code
}

// decodeObject reads a caller's JSON body: empty means no parameters; else
// exactly one JSON object, numbers kept as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "body must be a JSON object")
	}
	if dec.More() {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "body must be a single JSON object")
	}
	return m, nil
}
