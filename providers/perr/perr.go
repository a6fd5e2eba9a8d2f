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
