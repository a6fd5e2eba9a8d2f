package handlers

import (
	"net"
	"net/http"
	"time"
)

// NoRedirects is the CheckRedirect of every client to a provider: provider
// APIs never redirect, and following one would send a token, a signature or
// a client certificate to another host.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewTransport is the HTTP transport to the providers: kept-alive
// connections, bounded waits.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// The package's own spellings, for the handlers still in this package.
var (
	newTransport = NewTransport
	noRedirects  = NoRedirects
)
