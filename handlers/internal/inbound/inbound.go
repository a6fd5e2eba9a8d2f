// Package inbound holds what the hosts of calls that providers make to
// Caddy (unicloud_payment_notify, unicloud_message_notify) share: the
// host's own refusals, reading the body, the backend's status, the log
// fields of a refusal and the answer.
package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// The host's own checks on the body.
const CheckBodyTooLarge = "body_too_large"

// Refusal is a request that failed one of the host's own checks: the
// check's name, the status to answer with and the reason for the log.
type Refusal struct {
	check  string
	status int
	msg    string
}

// Refuse is the refusal of check, answered with status; msg is the reason
// in the log (never a secret).
func Refuse(check string, status int, msg string) Refusal {
	return Refusal{check: check, status: status, msg: msg}
}

func (e Refusal) Error() string { return e.msg }

// NotifyCheck is the check's name.
func (e Refusal) NotifyCheck() string { return e.check }

// HTTPStatus is the status the request is answered with.
func (e Refusal) HTTPStatus() int { return e.status }

// Checked is a refusal as the hosts' Refusal interfaces have it.
type Checked interface {
	error
	NotifyCheck() string
	HTTPStatus() int
}

// StripReserved deletes every X-Unicloud-* header the caller sent: only the
// host sets them for the backend.
func StripReserved(h http.Header) {
	const prefix = "X-Unicloud-"
	for k := range h {
		if len(k) >= len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			delete(h, k)
		}
	}
}

// ReadBody reads r's body, at most max bytes. A larger body is refused
// with 413 (CheckBodyTooLarge) before or while it is read; a body that
// cannot be read is refused with 400 as readCheck.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, readCheck string) ([]byte, Checked) {
	if r.ContentLength > max {
		return nil, Refuse(CheckBodyTooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("body of %d bytes is over max_body %d", r.ContentLength, max))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Refuse(CheckBodyTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is over max_body %d", max))
		}
		return nil, Refuse(readCheck, http.StatusBadRequest, "body could not be read")
	}
	return body, nil
}

// SetBody makes body, JSON, the body the backend receives in place of the
// provider's.
func SetBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	h := r.Header
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Content-Type", "application/json")
	h.Del("Content-Encoding")
}

// BackendStatus is the status the backend answered: the status of its
// HandlerError, 502 for another error, 200 when it wrote nothing.
func BackendStatus(written int, err error) int {
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusBadGateway
	}
	if written == 0 {
		return http.StatusOK // wrote nothing: net/http's implicit 200
	}
	return written
}

// RefusalFields are the fields of a refusal's log line: provider, check,
// status, reason, remote_ip, and the refusal's own LogFields() when it has
// them (never a secret).
func RefusalFields(provider string, ref Checked, r *http.Request) []zap.Field {
	fields := []zap.Field{
		zap.String("provider", provider),
		zap.String("check", ref.NotifyCheck()),
		zap.Int("status", ref.HTTPStatus()),
		zap.String("reason", ref.Error()),
		zap.String("remote_ip", RemoteHost(r)),
	}
	if lf, ok := ref.(interface{ LogFields() []zap.Field }); ok {
		fields = append(fields, lf.LogFields()...)
	}
	return fields
}

// RemoteHost is the host part of r.RemoteAddr.
func RemoteHost(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

// Write sends an answer that is never cached; an empty contentType sends
// no Content-Type, a 204 no body.
func Write(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if contentType == "" {
		h.Del("Content-Type")
	} else {
		h.Set("Content-Type", contentType)
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Interface guards
var _ Checked = Refusal{}
