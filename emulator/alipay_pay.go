package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

func (x *alipayEmu) oauthToken(c *aliCall) {
	code := c.params["code"]
	switch c.params["grant_type"] {
	case "authorization_code":
	case "refresh_token":
		code = c.params["refresh_token"]
	default:
		c.refuse("40002", "Invalid Arguments", "isv.grant-type-invalid", "grant_type参数不正确")
		return
	}
	if code == "" || strings.HasPrefix(code, "invalid") || strings.HasPrefix(code, "bad") {
		c.refuse("40002", "Invalid Arguments", "isv.code-invalid", "授权码code无效")
		return
	}
	// The same code gives the same user, so tests can predict it.
	user := strings.TrimPrefix(code, "refresh-")
	if c.params["grant_type"] == "refresh_token" && !x.refreshable(c.app.id, code) {
		c.refuse("40002", "Invalid Arguments", "isv.refresh-token-invalid", "刷新令牌refresh_token无效")
		return
	}
	userID, openID := aliUser(c.app.id, user)
	c.ok(map[string]any{
		"user_id":       userID,
		"open_id":       openID,
		"access_token":  x.issueToken(c.app.id, user),
		"expires_in":    int(aliTokenTTL / time.Second),
		"refresh_token": "refresh-" + user,
		"re_expires_in": 2592000,
		"auth_start":    x.s.now().In(notifyChinaTime).Format(time.DateTime),
	})
}

// randomB64URLFrom is n characters of a URL-safe alphabet from a seed.
func randomB64URLFrom(seed uint64, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		seed = seed*6364136223846793005 + 1442695040888963407
		b[i] = alphabet[(seed>>33)%uint64(len(alphabet))]
	}
	return string(b)
}

// PayAlipayOrder pays a trade placed with alipay.trade.create and sends the
// signed trade notification to its notify_url, as Alipay does when the
// payer confirms. Paying a paid trade sends the notification again.
//
// Also POST /_emulator/alipay/pay?app_id=…&out_trade_no=… (or trade_no=…).
func (s *Server) PayAlipayOrder(ctx context.Context, appID, outTradeNo, tradeNo string) (*PayResult, error) {
	x := s.alipay()
	x.mu.Lock()
	var t *aliTrade
	if tradeNo != "" {
		t = x.byNo[tradeNo]
	} else if appID != "" {
		t = x.trades[tradeKey(appID, outTradeNo)]
	} else {
		for _, cand := range x.trades {
			if cand.outTradeNo == outTradeNo {
				if t != nil {
					x.mu.Unlock()
					return nil, ErrAmbiguousPay
				}
				t = cand
			}
		}
	}
	if t == nil {
		x.mu.Unlock()
		return nil, ErrNoSuchOrder
	}
	return x.pay(ctx, t)
}

// PayAlipayOrderString pays an app, mobile-browser or PC-page payment: it
// checks the order string of alipay.trade.app.pay (what getOrderInfo
// returns for app-plus, and what the Alipay SDK of a phone would submit),
// or the pay URL of alipay.trade.wap.pay / page.pay (h5, web: what the
// payer's browser would open), places its trade and pays it.
//
// Also POST /_emulator/alipay/pay with a form field order_string (or
// pay_url).
func (s *Server) PayAlipayOrderString(ctx context.Context, orderString string) (*PayResult, error) {
	x := s.alipay()
	if i := strings.IndexByte(orderString, '?'); i >= 0 {
		orderString = orderString[i+1:] // a pay URL: its query
	}
	q, err := url.ParseQuery(orderString)
	if err != nil {
		return nil, errors.New("emulator: the order string is not URL-encoded parameters")
	}
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	app, ok := x.apps[params["app_id"]]
	if !ok || app.err != nil {
		return nil, errors.New("emulator: the order string names an unknown app_id")
	}
	switch params["method"] {
	case aliTradeAppPay, aliTradeWapPay, aliTradePagePay:
	default:
		return nil, errors.New("emulator: the order string is not an alipay.trade.app.pay, wap.pay or page.pay request")
	}
	if err := signing.AlipayVerify(app.appPub, []byte(signing.AlipaySignContent(params, true)), params["sign"], params["sign_type"]); err != nil {
		return nil, errors.New("emulator: the order string's signature does not verify with the app public key")
	}
	var biz map[string]any
	dec := json.NewDecoder(strings.NewReader(params["biz_content"]))
	dec.UseNumber()
	if err := dec.Decode(&biz); err != nil || str(biz, "out_trade_no") == "" {
		return nil, errors.New("emulator: the order string has no readable biz_content")
	}
	total, ok := parseYuan(str(biz, "total_amount"))
	if !ok || total < 1 {
		return nil, errors.New("emulator: the order string has no valid total_amount")
	}
	x.mu.Lock()
	t, code, msg := x.newTrade(app.id, biz, total, params["notify_url"])
	if t == nil {
		x.mu.Unlock()
		return nil, errors.New("emulator: " + code + ": " + msg)
	}
	return x.pay(ctx, t)
}

// pay marks a trade paid and sends its notification. Call with x.mu held;
// it releases it.
func (x *alipayEmu) pay(ctx context.Context, t *aliTrade) (*PayResult, error) {
	if t.status == "TRADE_CLOSED" && t.paid.IsZero() {
		x.mu.Unlock()
		return nil, ErrOrderClosed
	}
	if t.status == "WAIT_BUYER_PAY" {
		t.status = "TRADE_SUCCESS"
		t.paid = x.s.now()
	}
	trade := *t
	x.mu.Unlock()
	app := x.apps[trade.appID]
	res := &PayResult{OutTradeNo: trade.outTradeNo, TransactionID: trade.tradeNo, TotalFee: trade.total, NotifyURL: trade.notifyURL}
	msg, err := AlipayTradeNotification(x.notifyOrder(trade), app.key)
	if err != nil {
		return nil, err
	}
	res.send(ctx, msg)
	return res, nil
}

func (x *alipayEmu) notifyOrder(t aliTrade) NotifyOrder {
	return NotifyOrder{
		AppID: t.appID, OutTradeNo: t.outTradeNo, TransactionID: t.tradeNo, TotalFee: t.total,
		OpenID: orDefault(t.buyerOpenID, t.buyerID), Time: t.paid,
	}
}

// sendRefund sends the notification Alipay sends after a refund, in the
// background.
func (x *alipayEmu) sendRefund(t aliTrade, rf aliRefund, refundedSoFar int64) {
	o := x.notifyOrder(t)
	o.OutRefundNo, o.RefundFee = rf.outRequestNo, refundedSoFar
	msg, err := AlipayRefundNotification(o, x.apps[t.appID].key)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, _ = SendNotification(ctx, t.notifyURL, msg)
}

func (x *alipayEmu) payHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "GET or POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAlipayBody)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody(-1, "unreadable form"))
		return
	}
	var (
		res *PayResult
		err error
	)
	switch {
	case r.Form.Get("order_string") != "" || r.Form.Get("pay_url") != "":
		res, err = x.s.PayAlipayOrderString(r.Context(), orDefault(r.Form.Get("order_string"), r.Form.Get("pay_url")))
		if err != nil && !errors.Is(err, ErrOrderClosed) {
			writeJSON(w, http.StatusBadRequest, errBody(-1, err.Error()))
			return
		}
	case r.Form.Get("out_trade_no") != "" || r.Form.Get("trade_no") != "":
		res, err = x.s.PayAlipayOrder(r.Context(), r.Form.Get("app_id"), r.Form.Get("out_trade_no"), r.Form.Get("trade_no"))
	default:
		writeJSON(w, http.StatusBadRequest, errBody(-1, "out_trade_no, trade_no, order_string or pay_url is required"))
		return
	}
	if err != nil {
		payHookError(w, err)
		return
	}
	// From the cashier page: the browser goes on to return_url.
	if r.Form.Get("return") == "1" {
		if u := x.returnURL(r.Form.Get("pay_url"), res); u != "" {
			http.Redirect(w, r, u, http.StatusSeeOther)
			return
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (x *alipayEmu) publicKeyHook(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("app_id")
	if id == "" && len(x.apps) == 1 {
		for k := range x.apps {
			id = k
		}
	}
	pemKey, err := x.s.AlipayPublicKey(id)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errBody(-1, err.Error()))
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"app_id": id, "alipay_public_key": pemKey})
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write([]byte(pemKey))
}
