package emulator

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// cashierPage is the emulated cashier a wap.pay / page.pay URL opens: the
// trade, and a "pay" button that posts the URL to the pay hook, which
// sends the notification and sends the browser to return_url.
var cashierPage = template.Must(template.New("cashier").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Alipay cashier (emulator)</title></head>
<body>
<h1>Alipay cashier (emulator)</h1>
<p>{{.Subject}}: ¥{{.Amount}} (out_trade_no {{.OutTradeNo}})</p>
<form method="post" action="/_emulator/alipay/pay">
<input type="hidden" name="pay_url" value="{{.PayURL}}">
<input type="hidden" name="return" value="1">
<button type="submit">pay</button>
</form>
</body></html>
`))

// cashier answers a GET of alipay.trade.wap.pay or page.pay, whose sign
// the gateway has checked: the cashier page. Alipay places the trade when
// the payer pays; so does the pay hook.
func (x *alipayEmu) cashier(c *aliCall, r *http.Request) {
	if r.Method != http.MethodGet {
		c.refuse("40004", "Business Failed", "isv.invalid-method", "emulator: "+c.method+" is opened with GET, as a browser does")
		return
	}
	amount := c.str("total_amount")
	if c.str("out_trade_no") == "" || c.str("subject") == "" {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no、subject必填")
		return
	}
	if fen, ok := parseYuan(amount); !ok || fen < 1 {
		c.fail("ACQ.INVALID_PARAMETER", "参数无效: total_amount")
		return
	}
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	_ = cashierPage.Execute(c.w, map[string]string{
		"Subject": c.str("subject"), "Amount": amount, "OutTradeNo": c.str("out_trade_no"), "PayURL": r.URL.RequestURI(),
	})
}

// returnURL is where Alipay sends the browser after a wap.pay / page.pay
// payment: the pay URL's return_url with the signed synchronous return
// (method <method>.return, out_trade_no, trade_no, total_amount…; sign
// RSA2 over every parameter of the URL but sign and sign_type). "" when
// the pay URL has no return_url.
func (x *alipayEmu) returnURL(payURL string, res *PayResult) string {
	if i := strings.IndexByte(payURL, '?'); i >= 0 {
		payURL = payURL[i+1:]
	}
	q, err := url.ParseQuery(payURL)
	if err != nil || q.Get("return_url") == "" {
		return ""
	}
	app := x.apps[q.Get("app_id")]
	if app == nil || app.key == nil {
		return ""
	}
	ret, err := url.Parse(q.Get("return_url"))
	if err != nil {
		return ""
	}
	// The merchant's own query parameters stay, and are signed with the rest.
	v := ret.Query()
	p := map[string]string{}
	for k := range v {
		p[k] = v.Get(k)
	}
	for k, s := range map[string]string{
		"app_id": app.id, "auth_app_id": app.id, "method": q.Get("method") + ".return", "charset": "utf-8", "version": "1.0",
		"timestamp": x.s.now().In(notifyChinaTime).Format(time.DateTime), "sign_type": signing.SignTypeRSA2,
		"out_trade_no": res.OutTradeNo, "trade_no": res.TransactionID, "total_amount": yuan(res.TotalFee),
	} {
		p[k] = s
	}
	sign, err := signing.AlipaySign(app.key, []byte(signing.AlipaySignContent(p, false)), signing.SignTypeRSA2)
	if err != nil {
		return ""
	}
	v = url.Values{}
	for k, s := range p {
		v.Set(k, s)
	}
	v.Set("sign", sign)
	ret.RawQuery = v.Encode()
	return ret.String()
}
