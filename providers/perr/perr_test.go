package perr

import (
	"errors"
	"fmt"
	"testing"
)

func TestUpstreamError(t *testing.T) {
	err := fmt.Errorf("call: %w", &UpstreamError{Provider: "wxpay", Reason: "WeChat Pay did not answer in time", Timeout: true})
	var ue *UpstreamError
	if !errors.As(err, &ue) || !ue.Timeout || ue.Error() != "wxpay: WeChat Pay did not answer in time" {
		t.Errorf("%v", err)
	}
	if got := (&UpstreamError{Reason: "unreachable"}).Error(); got != "unreachable" {
		t.Errorf("without a provider: %q", got)
	}
}

func TestSignatureError(t *testing.T) {
	cause := errors.New("crypto/rsa: verification error")
	err := fmt.Errorf("call: %w", &SignatureError{Provider: "alipay", Err: cause})
	var se *SignatureError
	if !errors.As(err, &se) || !errors.Is(err, cause) || se.Error() != "alipay: answer signature: crypto/rsa: verification error" ||
		se.Msg() != DefaultSignatureMsg {
		t.Errorf("%v: %q", err, se.Msg())
	}
	if got := (&SignatureError{Provider: "alipay", Err: cause, Hint: "add the certificate"}).Msg(); got != "add the certificate" {
		t.Errorf("with a hint: %q", got)
	}
}
