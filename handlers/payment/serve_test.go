package payment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// fakePay records what the host hands it and answers what it is told.
type fakePay struct {
	got    pay.Params
	answer pay.Answer
	err    error
}

func (f *fakePay) do(in pay.Params) (pay.Answer, error) { f.got = in; return f.answer, f.err }
func (f *fakePay) GetOrderInfo(_ context.Context, r *pay.OrderRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) OrderQuery(_ context.Context, r *pay.OrderQueryRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) CloseOrder(_ context.Context, r *pay.CloseOrderRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) CancelOrder(context.Context, *pay.CancelOrderRequest) (pay.Answer, error) {
	return nil, pay.NotSupported("cancelOrder is not supported by Fake")
}
func (f *fakePay) Refund(_ context.Context, r *pay.RefundRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) RefundQuery(_ context.Context, r *pay.RefundQueryRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) DownloadBill(_ context.Context, r *pay.BillRequest) (pay.Answer, error) {
	return f.do(r.Params)
}
func (f *fakePay) DownloadFundflow(_ context.Context, r *pay.FundflowRequest) (pay.Answer, error) {
	return f.do(r.Params)
}

type fakeGuest struct{ p *fakePay }

func (fakeGuest) Name() string                             { return "fake" }
func (g fakeGuest) PayProvider(time.Duration) pay.Provider { return g.p }

func fakeHost(p *fakePay) *Payment {
	return &Payment{MaxBody: 64, provider: fakeGuest{p}, pay: p, logger: zap.NewNop(), timeout: time.Second}
}

func call(h *Payment, method, path, body string, header ...string) (int, string) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	_ = h.ServeHTTP(w, r, nil)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// The host decodes (camelCase names, json.Number, the client type header),
// dispatches by the path's last segment and encodes the answer with
// errCode 0.
func TestServeDispatch(t *testing.T) {
	p := &fakePay{answer: pay.Answer{"totalFee": int64(88), "orderInfo": map[string]string{"codeUrl": "weixin://x"}}}
	h := fakeHost(p)
	status, body := call(h, http.MethodPost, "/pay/payment.getOrderInfo", `{"out_trade_no":"T1","totalFee":88}`, "X-Unicloud-Client-Type", "native")
	if status != 200 || body != `{"errCode":0,"errMsg":"ok","orderInfo":{"codeUrl":"weixin://x"},"totalFee":88}` {
		t.Errorf("%d %s", status, body)
	}
	if p.got["outTradeNo"] != "T1" || fmt.Sprint(p.got["totalFee"]) != "88" || p.got["clientType"] != "native" {
		t.Errorf("the provider got %v", p.got)
	}
	// clientType in the body wins over the header.
	call(h, http.MethodPost, "/getOrderInfo", `{"clientType":"h5"}`, "X-Unicloud-Client-Type", "native")
	if p.got["clientType"] != "h5" {
		t.Errorf("clientType %v", p.got["clientType"])
	}
}

// Every way a call fails has its documented status and code.
func TestServeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		err                      error
		status                   int
		want                     string
	}{
		{"unknown call", "POST", "/pay/refundAll", `{}`, nil, 404, `{"errCode":"UNICLOUD_API_NOT_FOUND","errMsg":"unknown payment call: pay/refundAll"}`},
		{"GET", "GET", "/orderQuery", ``, nil, 405, `{"errCode":"UNICLOUD_BAD_REQUEST","errMsg":"payment calls are POST requests"}`},
		{"not an object", "POST", "/orderQuery", `[1]`, nil, 400, `{"errCode":"UNICLOUD_BAD_REQUEST","errMsg":"body must be a JSON object"}`},
		{"too large", "POST", "/orderQuery", `{"outTradeNo":"` + strings.Repeat("x", 80) + `"}`, nil, 413, `"errCode":"UNICLOUD_BODY_TOO_LARGE"`},
		{"not supported", "POST", "/cancelOrder", `{}`, nil, 400, `{"errCode":"UNICLOUD_NOT_SUPPORTED","errMsg":"cancelOrder is not supported by Fake"}`},
		{"bad request", "POST", "/orderQuery", `{}`, pay.Missing("transactionId or outTradeNo"), 400,
			`{"errCode":"UNICLOUD_BAD_REQUEST","errMsg":"missing required parameter: transactionId or outTradeNo"}`},
		{"business", "POST", "/refund", `{}`, fmt.Errorf("wrapped: %w", &pay.BusinessError{Code: "ORDERPAID", Msg: "paid"}), 200, `{"errCode":"ORDERPAID","errMsg":"paid"}`},
		{"bad signature", "POST", "/orderQuery", `{}`, &pay.Error{Kind: pay.ErrBadSignature, Msg: "the provider's answer failed the signature check"}, 502,
			`{"errCode":"UNICLOUD_UPSTREAM_BAD_SIGNATURE","errMsg":"the provider's answer failed the signature check"}`},
		{"upstream", "POST", "/orderQuery", `{}`, pay.Upstream(false, "HTTP 500 from /pay/orderquery", nil), 502,
			`{"errCode":"UNICLOUD_UPSTREAM_ERROR","errMsg":"HTTP 500 from /pay/orderquery"}`},
		{"upstream timeout", "POST", "/orderQuery", `{}`, pay.Upstream(true, "WeChat Pay did not answer in time", nil), 504,
			`{"errCode":"UNICLOUD_UPSTREAM_TIMEOUT","errMsg":"WeChat Pay did not answer in time"}`},
		{"deadline", "POST", "/orderQuery", `{}`, context.DeadlineExceeded, 504, `{"errCode":"UNICLOUD_UPSTREAM_TIMEOUT","errMsg":"provider did not answer in time"}`},
		{"anything else", "POST", "/orderQuery", `{}`, errors.New("secret detail"), 502, `{"errCode":"UNICLOUD_UPSTREAM_ERROR","errMsg":"provider call failed"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(fakeHost(&fakePay{err: tc.err}), tc.method, tc.path, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want %d %s", status, body, tc.status, tc.want)
			}
		})
	}
}
