// Package bounded reads the providers' answers with a size limit. An answer
// that declares a larger Content-Length is refused before any of it is read.
package bounded

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrTooLarge is matched (errors.Is) by every *TooLargeError.
var ErrTooLarge = errors.New("answer too large")

// TooLargeError is an answer over the limit: declared in Content-Length
// (Declared > 0, nothing was read) or found while reading a body of unknown
// length (chunked).
type TooLargeError struct {
	Limit    int64
	Declared int64
}

func (e *TooLargeError) Error() string {
	if e.Declared > 0 {
		return fmt.Sprintf("answer declares %d bytes (Content-Length), over the %s limit", e.Declared, Size(e.Limit))
	}
	return fmt.Sprintf("answer over the %s limit", Size(e.Limit))
}

func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// ReadBody reads at most limit bytes of resp's body. It does not close the
// body. Errors are a *TooLargeError or the body's own read error.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		// Refused on the declaration: a provider (or a proxy before
		// it) that announces a gigabyte is not waited on byte by byte.
		return nil, &TooLargeError{Limit: limit, Declared: resp.ContentLength}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return b, nil
}

// Size writes a byte count the way people read it: 16 MiB, 2 MB, 512 bytes.
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%d MB", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%d bytes", n)
}
