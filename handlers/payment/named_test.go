package payment

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// namedPay is a provider with calls of its own (as wxpay_virtual's queryUserBalance…) besides the unified ones.
type namedPay struct {
	fakePay
	called []string
}

func (n *namedPay) Calls() []string {
	// orderQuery is a unified call: listing it must not take it away from OrderQuery.
	return []string{"queryUserBalance", "currencyPay", "orderQuery"}
}

func (n *namedPay) Call(_ context.Context, name string, in pay.Params) (pay.Answer, error) {
	n.called = append(n.called, name)
	n.got = in
	return pay.Answer{"balance": int64(7)}, nil
}

// namedGuest is the test module unicloud.payment.providers.test_named; each provision makes a new namedPay.
type namedGuest struct{ p *namedPay }

func (namedGuest) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: providerNamespace + ".test_named", New: func() caddy.Module { return &namedGuest{} }}
}
func (*namedGuest) Name() string { return "test_named" }
func (g *namedGuest) PayProvider(time.Duration) pay.Provider {
	g.p = &namedPay{fakePay: fakePay{answer: pay.Answer{"tradeState": "SUCCESS"}}}
	return g.p
}

func init() { caddy.RegisterModule(namedGuest{}) }

// A NamedCaller's own calls are served through Call (and only those it lists); the unified calls still go to
// their methods; a name neither knows is 404.
func TestServeNamedCalls(t *testing.T) {
	h, err := provision(t, map[string]any{"name": "test_named"})
	if err != nil {
		t.Fatal(err)
	}
	p := h.provider.(*namedGuest).p
	status, body := call(h, http.MethodPost, "/pay/xpay/queryUserBalance", `{"openid":"o1","user_ip":"127.0.0.1"}`)
	if status != 200 || body != `{"balance":7,"errCode":0,"errMsg":"ok"}` {
		t.Errorf("queryUserBalance: %d %s", status, body)
	}
	if len(p.called) != 1 || p.called[0] != "queryUserBalance" || p.got["userIp"] != "127.0.0.1" {
		t.Errorf("Call got %v %v", p.called, p.got)
	}
	status, body = call(h, http.MethodPost, "/pay/xpay/orderQuery", `{"outTradeNo":"T1"}`)
	if status != 200 || body != `{"errCode":0,"errMsg":"ok","tradeState":"SUCCESS"}` || len(p.called) != 1 {
		t.Errorf("orderQuery: %d %s, Call got %v", status, body, p.called)
	}
	status, body = call(h, http.MethodPost, "/pay/xpay/presentCurrency", `{}`)
	if status != 404 || body != `{"errCode":"UNICLOUD_API_NOT_FOUND","errMsg":"unknown payment call: pay/xpay/presentCurrency"}` || len(p.called) != 1 {
		t.Errorf("an unlisted call: %d %s, Call got %v", status, body, p.called)
	}
	// A provider without calls of its own answers 404 for the same name.
	status, _ = call(fakeHost(&fakePay{}), http.MethodPost, "/pay/xpay/queryUserBalance", `{}`)
	if status != 404 {
		t.Errorf("queryUserBalance without a NamedCaller: %d", status)
	}
}
