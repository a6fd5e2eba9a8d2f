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
