// Package guest holds what the provider modules of unicloud_payment_notify
// share: the status a provider's refusal is answered with.
package guest

import (
	"errors"
	"net/http"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
)

// Checks whose refusal is answered 400 (not a notification the provider
// can read) and 500 (not verifiable now: the provider retries). Every
// other check is answered 401.
const (
	checkMalformed   = "malformed"
	checkUnsupported = "unsupported"
)

// Refusal is a provider's refusal with the status the host answers it
// with (the host's Refusal interface).
type Refusal struct {
	*payevent.Refusal
	Status int
}

// HTTPStatus is the status the notification is answered with.
func (r Refusal) HTTPStatus() int { return r.Status }

// Refuse gives a provider's error its status: 400 for malformed and
// unsupported, 500 for the checks in retry (the provider sends the
// notification again), else 401. Another error is returned as it is (the
// host refuses it as malformed).
func Refuse(err error, retry ...string) error {
	var pr *payevent.Refusal
	if !errors.As(err, &pr) {
		return err
	}
	status := http.StatusUnauthorized
	switch pr.Check {
	case checkMalformed, checkUnsupported:
		status = http.StatusBadRequest
	}
	for _, c := range retry {
		if pr.Check == c {
			status = http.StatusInternalServerError
		}
	}
	return Refusal{pr, status}
}
