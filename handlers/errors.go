package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/internal/bounded"
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
	// ErrBadSignature: content the caller brought (an Alipay my.getPhoneNumber
	// response) carries a sign that does not verify.
	ErrBadSignature = "UNICLOUD_BAD_SIGNATURE"
	// ErrSessionKeyNotFound: the call needs a WeChat session key the gateway
	// does not keep for that openid (the user logs in again).
	ErrSessionKeyNotFound = "UNICLOUD_SESSION_KEY_NOT_FOUND"
	// ErrUserTokenNotFound: the call needs a user access token (official
	// account, app or website login) the gateway does not keep.
	ErrUserTokenNotFound = "UNICLOUD_USER_TOKEN_NOT_FOUND"
)

// Error is an error of the gateway itself, answered to the caller as
// {"errCode": Code, "errMsg": Msg} with HTTP status Status. Msg must never
// contain a secret or a token.
type Error struct {
	Status int
	Code   string
	Msg    string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// NewError is a gateway error with its HTTP status, code and message.
func NewError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

// WriteError answers a gateway error in the documented shape.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(struct {
		ErrCode string `json:"errCode"`
		ErrMsg  string `json:"errMsg"`
	}{code, msg})
	WriteJSON(w, status, body)
}

// WriteJSON answers a JSON body with its length set.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// FailCall answers a call that ended in err, logs it (at WARN when a
// provider's answer failed its signature check, DEBUG otherwise: refusals
// are the callers' business) and returns the outcome label for metrics.
// Errors that are not gateway errors become UNICLOUD_UPSTREAM_ERROR.
func FailCall(w http.ResponseWriter, logger *zap.Logger, err error, fields ...zap.Field) string {
	var ge *Error
	if !errors.As(err, &ge) {
		ge = NewError(http.StatusBadGateway, ErrUpstream, "provider call failed")
	}
	level := logger.Debug
	if ge.Code == ErrUpstreamBadSignature {
		level = logger.Warn
	}
	level("call refused or failed", append(fields, zap.String("err_code", ge.Code), zap.String("err_msg", ge.Msg))...)
	WriteError(w, ge.Status, ge.Code, ge.Msg)
	return ge.Code
}

// DecodeObject reads a caller's JSON body: empty means no parameters; else
// exactly one JSON object, numbers kept as json.Number.
func DecodeObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, NewError(http.StatusBadRequest, ErrBadRequest, "body must be a JSON object")
	}
	if dec.More() {
		return nil, NewError(http.StatusBadRequest, ErrBadRequest, "body must be a single JSON object")
	}
	return m, nil
}

// BodyError is the answer to a caller's body that could not be read: too
// large for limit (413, naming max_body) or broken (400).
func BodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return NewError(http.StatusRequestEntityTooLarge, ErrBodyTooLarge,
			"request body larger than max_body ("+bounded.Size(mbe.Limit)+")")
	}
	return NewError(http.StatusBadRequest, ErrBadRequest, "request body could not be read")
}
