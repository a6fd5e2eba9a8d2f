package alipay_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded/boundedtest"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// An answer that declares 1 GiB is refused on the declaration: the call
// fails at once, not at the timeout.
func TestExecuteAnswerDeclaredTooLarge(t *testing.T) {
	priv, pub := payKeys(t)
	srv := httptest.NewServer(boundedtest.Lying(t, "application/json"))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &alipay.Client{AppID: payAppID, PrivateKey: priv, AlipayPublicKey: pub, Endpoint: srv.URL, HTTP: srv.Client()}
	_, err := c.Execute(ctx, alipay.MethodTradeQuery, []byte(`{}`), nil)
	var ue *alipay.UpstreamError
	if !errors.As(err, &ue) || ue.Timeout || !strings.Contains(ue.Reason, "declares 1073741824 bytes") {
		t.Fatalf("err %v, want the declared length refused", err)
	}
	if ctx.Err() != nil {
		t.Fatal("waited for the timeout")
	}
}
