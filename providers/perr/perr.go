// Package perr holds the error types every provider client shares, free of
// Caddy: one type per kind of failure, whichever provider it was, so that
// callers tell them apart with errors.As.
package perr

// UpstreamError is a provider that could not be reached, did not answer in
// time, or answered something that could not be used. Reason says which,
// for the caller; it never holds a secret.
type UpstreamError struct {
	// Provider names the provider in Error ("wxpay", "alipay"); may be
	// empty.
	Provider string
	Reason   string
	// Timeout: the provider did not answer in time.
	Timeout bool
	// Unreachable: no connection, or the provider answered 5xx (as
	// opposed to an answer that could be read but made no sense).
	Unreachable bool
}

func (e *UpstreamError) Error() string {
	if e.Provider == "" {
		return e.Reason
	}
	return e.Provider + ": " + e.Reason
}

// DefaultSignatureMsg is what a caller is told of an answer that failed its
// signature check when the provider adds no Hint.
const DefaultSignatureMsg = "the provider's answer failed the signature check"

// SignatureError is an answer whose signature is missing or does not
// verify: its content must not be used. Err is the cause (for logs); Hint,
// when set, is what the caller is told instead of DefaultSignatureMsg (say,
// which certificate to add). Neither holds a key.
type SignatureError struct {
	// Provider names the provider in Error ("wxpay", "alipay").
	Provider string
	Err      error
	Hint     string
}

func (e *SignatureError) Error() string { return e.Provider + ": answer signature: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *SignatureError) Unwrap() error { return e.Err }

// Msg is the caller's message.
func (e *SignatureError) Msg() string {
	if e.Hint != "" {
		return e.Hint
	}
	return DefaultSignatureMsg
}
