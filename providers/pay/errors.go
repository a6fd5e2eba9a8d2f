package pay

import (
	"errors"
	"strconv"
)

// The kinds of Error: what went wrong, whichever provider it was.
var (
	// ErrBadRequest: a parameter is missing or malformed; the message
	// names it.
	ErrBadRequest = errors.New("bad request")
	// ErrNotSupported: the provider has no such call, or not for these
	// parameters.
	ErrNotSupported = errors.New("not supported")
	// ErrUpstream: the provider could not be reached, or answered
	// something unusable.
	ErrUpstream = errors.New("upstream error")
	// ErrUpstreamTimeout: the provider did not answer in time.
	ErrUpstreamTimeout = errors.New("upstream timeout")
	// ErrBadSignature: the provider's answer failed its signature check;
	// its content was not used.
	ErrBadSignature = errors.New("upstream bad signature")
)

// Error is a call that failed before or instead of a provider's answer.
// Kind is one of the Err* values above (errors.Is(err, ErrNotSupported)
// holds for an Error of that kind); Msg is for the caller and never holds
// a secret; Err, when set, is the cause (for logs, never answered).
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// BadRequest is an Error of kind ErrBadRequest.
func BadRequest(msg string) *Error { return &Error{Kind: ErrBadRequest, Msg: msg} }

// NotSupported is an Error of kind ErrNotSupported.
func NotSupported(msg string) *Error { return &Error{Kind: ErrNotSupported, Msg: msg} }

// Upstream is an Error of kind ErrUpstream, or ErrUpstreamTimeout when
// timeout is set.
func Upstream(timeout bool, msg string, cause error) *Error {
	kind := ErrUpstream
	if timeout {
		kind = ErrUpstreamTimeout
	}
	return &Error{Kind: kind, Msg: msg, Err: cause}
}

// BusinessError is a provider's refusal of a call (a business failure: an
// order already paid, a refund over the total…). The caller gets HTTP 200
// with the provider's own code and message.
type BusinessError struct {
	Code string
	Msg  string
}

func (e *BusinessError) Error() string { return e.Code + ": " + e.Msg }

// NumericBusinessError is a provider's refusal whose code is a number
// (WeChat's errcode, as virtual payment's 268490003): the caller gets HTTP
// 200 with errCode as that number.
type NumericBusinessError struct {
	Code int64
	Msg  string
}

func (e *NumericBusinessError) Error() string { return strconv.FormatInt(e.Code, 10) + ": " + e.Msg }
