package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// XpayPush is one attempt at pushing a virtual payment event (xpay_goods_deliver_notify, xpay_coin_pay_notify,
// xpay_refund_notify, xpay_complaint_notify) to the app's message server.
type XpayPush struct {
	AppID string `json:"appid"`
	Event string `json:"event"`
	// Attempt counts from 1; WeChat sends an event at most 15 times.
	Attempt int `json:"attempt"`
	// Acknowledged: the server answered {"ErrCode":0,…}; no further attempt is made.
	Acknowledged bool `json:"acknowledged"`
	// Status and Body are the server's answer (Body decrypted when the answer was an encrypted envelope).
	Status int    `json:"status"`
	Body   string `json:"body"`
	// Error is why the push could not be sent.
	Error string `json:"error,omitempty"`
	// Message is the event as sent (before encryption).
	Message []byte `json:"-"`
}

// OnXpayPush calls f after every attempt at pushing a virtual payment event: tests wait on it instead of sleeping.
func (s *Server) OnXpayPush(f func(XpayPush)) {
	x := s.xpay()
	x.mu.Lock()
	x.onPush = append(x.onPush, f)
	x.mu.Unlock()
}

// SetXpayPushRetryWait sets how long an unacknowledged virtual payment event waits before it is pushed again
// (attempt counts from 1; default: attempt seconds, at most 30). Tests set it to return 0.
func (s *Server) SetXpayPushRetryWait(f func(attempt int) time.Duration) {
	x := s.xpay()
	x.mu.Lock()
	x.retryWait = f
	x.mu.Unlock()
}

// WaitXpayPushes returns when no virtual payment event is waiting to be pushed again.
func (s *Server) WaitXpayPushes() { s.xpay().pending.Wait() }

// payHook is POST /_emulator/xpay/pay: the body is what the mini-program passes to wx.requestVirtualPayment
// ({mode, signData, paySig, signature}) plus the user's openid. Like the WeChat client, it checks paySig with the
// AppKey of signData's env and signature with the user's session key, records the order paid (coins credited in
// coin mode) and pushes xpay_goods_deliver_notify or xpay_coin_pay_notify to the app's message server: the first
// attempt before answering, the next ones (while the answer is not {"ErrCode":0,…}, at most 15 in all) later.
func (x *xpay) payHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(43002, "require POST method"))
		return
	}
	var req struct {
		Mode, SignData, PaySig, Signature, Openid string
	}
	if json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req) != nil {
		writeJSON(w, http.StatusBadRequest, errBody(47001, "data format error: want {mode, signData, paySig, signature, openid}"))
		return
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(req.SignData)))
	dec.UseNumber()
	var sd map[string]any
	if dec.Decode(&sd) != nil || sd == nil {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadField, "signData is not a JSON object"))
		return
	}
	offer, _ := sd["offerId"].(string)
	var app WeixinXpay
	found := false
	for _, a := range x.s.cfg.WeixinXpay {
		if a.OfferID == offer {
			app, found = a, true
		}
	}
	if !found {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadField, "signData.offerId is not a configured weixin_xpay offer_id"))
		return
	}
	env := -1
	switch sd["env"] {
	case json.Number("0"):
		env = 0
	case json.Number("1"):
		env = 1
	}
	if env < 0 {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadField, "signData.env must be 0 or 1"))
		return
	}
	if !signing.EqualHex(req.PaySig, xpayHMAC(app.appKey(env), []byte("requestVirtualPayment&"+req.SignData))) {
		writeJSON(w, http.StatusBadRequest, errBody(xpayClientBadSig, "requestVirtualPayment:fail paySig 签名错误"))
		return
	}
	sess, ok := x.s.weixin().lookupSession(app.AppID, req.Openid)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errBody(xpayNoSession, "用户session_key不存在或已过期: log in first (jscode2session)"))
		return
	}
	if !signing.EqualHex(req.Signature, xpayHMAC(sess.sessionKey, []byte(req.SignData))) {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadSignature, "requestVirtualPayment:fail signature 签名错误"))
		return
	}
	o, msg, code, text := x.pay(app, env, req.Openid, req.Mode, sd)
	if code != 0 {
		writeJSON(w, http.StatusBadRequest, errBody(code, text))
		return
	}
	answer := map[string]any{"order_id": o.orderID, "wx_order_id": o.wxOrderID}
	if _, ok := x.s.pushTarget(app.AppID); ok {
		first := x.deliver(r.Context(), app.AppID, msg, 1)
		answer["push"] = first
		if !first.Acknowledged {
			x.retryLater(app.AppID, msg, 2)
		}
	}
	writeJSON(w, http.StatusOK, okBody(answer))
}

// pay records the order of signData paid and returns it with its push event; code ≠ 0 refuses it.
func (x *xpay) pay(app WeixinXpay, env int, openid, mode string, sd map[string]any) (*xpayOrder, map[string]any, int, string) {
	str := func(k string) string { s, _ := sd[k].(string); return s }
	num := func(k string) int64 {
		n, _ := sd[k].(json.Number)
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 1 {
			return -1
		}
		return v
	}
	out, qty := str("outTradeNo"), num("buyQuantity")
	if out == "" || qty < 1 {
		return nil, nil, xpayBadField, "signData needs outTradeNo and a buyQuantity of at least 1"
	}
	o := &xpayOrder{appid: app.AppID, openid: openid, env: env, orderID: out, mode: mode, quantity: qty, attach: str("attach")}
	switch mode {
	case "short_series_goods":
		o.productID, o.unitPrice = str("productId"), num("goodsPrice")
		if o.productID == "" || o.unitPrice < 1 {
			return nil, nil, xpayBadField, "goods signData needs productId and a goodsPrice of at least 1"
		}
	case "short_series_coin":
		o.unitPrice = xpayCoinFen
	default:
		return nil, nil, xpayBadField, "mode must be short_series_goods or short_series_coin"
	}
	if cur, _ := sd["currencyType"].(string); cur != "CNY" {
		return nil, nil, xpayBadField, "currencyType must be CNY"
	}
	o.orderFee = o.unitPrice * qty
	now := x.s.now().Unix()
	x.mu.Lock()
	defer x.mu.Unlock()
	k := app.AppID + "\x00" + strconv.Itoa(env) + "\x00" + out
	if _, dup := x.orders[k]; dup {
		return nil, nil, xpayDuplicate, "重复操作: outTradeNo " + out + " was paid"
	}
	if len(x.orders) >= maxXpayOrders {
		return nil, nil, -1, "system error: the emulator keeps at most 100000 orders"
	}
	o.wxOrderID, o.mchOrderNo, o.txID = x.nextID("wxo"), x.nextID("mch"), "42"+x.nextID("")
	o.status, o.created, o.paid, o.updated = xpayPaid, now, now, now
	x.orders[k] = o
	pay := map[string]any{"MchOrderNo": o.mchOrderNo, "TransactionId": o.txID, "PaidTime": now}
	msg := map[string]any{"MsgType": "event", "FromUserName": openid, "OpenId": openid, "OutTradeNo": out,
		"Env": env, "WeChatPayInfo": pay}
	if mode == "short_series_coin" {
		b := x.balanceOf(app.AppID, env, openid)
		b.balance += qty
		b.sumSave += qty
		b.firstSave = false
		msg["Event"] = "xpay_coin_pay_notify"
		msg["CoinInfo"] = map[string]any{"Quantity": qty, "OrigPrice": o.orderFee, "ActualPrice": o.orderFee, "Attach": o.attach}
	} else {
		msg["Event"] = "xpay_goods_deliver_notify"
		msg["GoodsInfo"] = map[string]any{"ProductId": o.productID, "Quantity": qty, "OrigPrice": o.unitPrice,
			"ActualPrice": o.orderFee, "Attach": o.attach}
	}
	return o, msg, 0, ""
}

// balanceOf is openid's account; x.mu is held.
func (x *xpay) balanceOf(appid string, env int, openid string) *xpayBalance {
	return x.balance(&xpayCall{app: WeixinXpay{AppID: appid}, env: env}, openid)
}

// pushLater pushes msg to appid's message server, if it has one, in the background (x.mu may be held).
func (x *xpay) pushLater(appid string, msg map[string]any) {
	if _, ok := x.s.pushTarget(appid); ok {
		x.retryLater(appid, msg, 1)
	}
}

// retryLater makes attempts from first on, in the background, until one is acknowledged or 15 were made.
func (x *xpay) retryLater(appid string, msg map[string]any, first int) {
	x.pending.Add(1)
	go func() {
		defer x.pending.Done()
		for attempt := first; attempt <= maxXpayPushRetries; attempt++ {
			if attempt > 1 {
				x.mu.Lock()
				wait := x.retryWait(attempt - 1)
				x.mu.Unlock()
				if wait > 0 {
					time.Sleep(wait)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), asyncPushTimeout)
			p := x.deliver(ctx, appid, msg, attempt)
			cancel()
			if p.Acknowledged {
				return
			}
		}
	}()
}

// deliver makes one attempt (RetryTimes = attempt - 1) and tells the OnXpayPush functions.
func (x *xpay) deliver(ctx context.Context, appid string, msg map[string]any, attempt int) XpayPush {
	m := make(map[string]any, len(msg)+1)
	for k, v := range msg {
		m[k] = v
	}
	m["RetryTimes"] = attempt - 1
	event, _ := m["Event"].(string)
	p := XpayPush{AppID: appid, Event: event, Attempt: attempt}
	res, err := x.s.SendWeixinPush(ctx, appid, m)
	if err != nil {
		p.Error = err.Error()
	} else {
		p.Status, p.Body, p.Message = res.Status, res.Body, res.Message
		if res.Reply != "" {
			p.Body = res.Reply
		}
		var ack struct{ ErrCode *json.Number }
		p.Acknowledged = res.Status == http.StatusOK && json.Unmarshal([]byte(p.Body), &ack) == nil &&
			ack.ErrCode != nil && *ack.ErrCode == "0"
	}
	x.mu.Lock()
	fs := append([]func(XpayPush){}, x.onPush...)
	x.mu.Unlock()
	for _, f := range fs {
		f(p)
	}
	return p
}
