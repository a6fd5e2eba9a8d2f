package payment

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	_ "github.com/caddy-unicloud/unicloud/handlers/payment/wxpayvirtual"
)

// The Caddyfile short form names the providers this plugin ships when one is missing or unknown, and loads
// wxpay_virtual as its own guest.
func TestPaymentCaddyfileProviders(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"unicloud_payment", "needs a provider: wxpay, alipay or wxpay_virtual"},
		{"unicloud_payment wxpay_virtua {\n}", `unknown provider "wxpay_virtua": wxpay, alipay or wxpay_virtual`},
		{"unicloud_payment wxpay_virtual {\n\tversion v3\n}", "version is not a subdirective of unicloud_payment wxpay_virtual"},
	} {
		var h Payment
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	var h Payment
	in := "unicloud_payment wxpay_virtual {\n\tapp_id wx1\n\tsecret s\n\tapp_key k\n\toffer_id 1450019686\n\ttimeout 3s\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	var guest struct {
		Name    string `json:"name"`
		OfferID string `json:"offer_id"`
	}
	if err := json.Unmarshal(h.ProviderRaw, &guest); err != nil || guest.Name != "wxpay_virtual" || guest.OfferID != "1450019686" || time.Duration(h.Timeout) != 3*time.Second {
		t.Errorf("provider %s (%v), timeout %v", h.ProviderRaw, err, h.Timeout)
	}
}
