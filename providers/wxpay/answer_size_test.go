package wxpay_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/bounded/boundedtest"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// An answer that declares 1 GiB is refused on the declaration, v2 and v3:
// the call fails at once with an UpstreamError that says why, instead of
// reading (or waiting for) the body.
func TestAnswerDeclaredTooLarge(t *testing.T) {
	v3TestKeys(t)
	srv := httptest.NewServer(boundedtest.Lying(t, "text/xml"))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v2 := &wxpay.Client{AppID: payAppID, MchID: payMchID, Key: payKey, Endpoint: srv.URL, HTTP: srv.Client()}
	v3 := &wxpay.ClientV3{MchID: v3MchID, PrivateKey: v3Keys.merchant, SerialNo: v3Serial, Endpoint: srv.URL,
		PlatformKeys: wxpay.StaticPlatformKeys{}, HTTP: srv.Client()}
	for name, call := range map[string]func() error{
		"v2": func() error {
			_, err := v2.Call(ctx, wxpay.APIOrderQuery, map[string]string{"out_trade_no": "1"})
			return err
		},
		"v3": func() error {
			_, err := v3.QueryOrder(ctx, "", "T1")
			return err
		},
	} {
		err := call()
		var ue *wxpay.UpstreamError
		if !errors.As(err, &ue) || ue.Timeout || !strings.Contains(ue.Reason, "declares 1073741824 bytes") {
			t.Errorf("%s: err %v, want the declared length refused", name, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: waited for the timeout", name)
		}
	}
}
