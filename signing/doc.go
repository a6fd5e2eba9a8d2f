// Package signing holds the signatures and ciphers of WeChat, WeChat Pay
// (v2 and APIv3) and Alipay as pure functions over the standard library.
//
// Errors wrap the sentinel errors below (test them with errors.Is). They never
// carry key material, plaintext or the string that was signed.
package signing

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrBadSignature: a signature is present but does not verify (or is not
	// even well-formed base64/hex).
	ErrBadSignature = errors.New("bad signature")
	// ErrMissingSignature: the signature to check is absent or empty.
	ErrMissingSignature = errors.New("missing signature")
	// ErrDecrypt: a ciphertext does not decrypt (bad encoding, length,
	// padding, or authentication tag).
	ErrDecrypt = errors.New("decryption failed")
	// ErrBadKey: a key, certificate or secret is unusable (unparsable, wrong
	// type, wrong size).
	ErrBadKey = errors.New("bad key")
	// ErrUnsupportedSignType: a sign_type / signType this package does not know.
	ErrUnsupportedSignType = errors.New("unsupported sign type")
	// ErrInvalidInput: an argument that cannot be used as given (for example
	// a header field containing a quote).
	ErrInvalidInput = errors.New("invalid input")
)
