package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

// complaintHook is POST /_emulator/xpay/complaint: a user complains about a paid virtual payment order, and WeChat
// pushes xpay_complaint_notify to the app's message server. The body names the order as query_order does
// ({"appid", "env", "order_id" or "wx_order_id"}; env 0 when absent, appid optional with one weixin_xpay app) and may carry the complaint's text
// ("content"). The first attempt is made before answering and shown in the answer; while it is not acknowledged
// with {"ErrCode":0,…}, the event is pushed again later (RetryTimes counting), 15 times at most.
func (x *xpay) complaintHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(43002, "require POST method"))
		return
	}
	var req struct {
		AppID     string `json:"appid"`
		Env       int    `json:"env"`
		OrderID   string `json:"order_id"`
		WxOrderID string `json:"wx_order_id"`
		Content   string `json:"content"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req) != nil {
		writeJSON(w, http.StatusBadRequest, errBody(47001, "data format error: want {appid, env, order_id or wx_order_id, content}"))
		return
	}
	if req.AppID == "" && len(x.s.cfg.WeixinXpay) == 1 {
		req.AppID = x.s.cfg.WeixinXpay[0].AppID
	}
	app, ok := x.s.xpayApp(req.AppID)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadField, "appid is not a configured weixin_xpay app"))
		return
	}
	if req.Env != 0 && req.Env != 1 {
		writeJSON(w, http.StatusBadRequest, errBody(xpayBadField, "env must be 0 or 1"))
		return
	}
	if req.Content == "" {
		req.Content = "商品未到账"
	}
	x.mu.Lock()
	c := &xpayCall{w: w, app: app, env: req.Env, body: map[string]any{"order_id": req.OrderID, "wx_order_id": req.WxOrderID}}
	o := x.findOrder(c)
	if o == nil {
		x.mu.Unlock()
		return
	}
	now := x.s.now().Unix()
	id := x.nextID("cmp")
	msg := map[string]any{
		"MsgType": "event", "Event": "xpay_complaint_notify", "FromUserName": o.openid, "OpenId": o.openid,
		"WxOrderId": o.wxOrderID, "MchOrderId": o.orderID, "TransactionId": o.txID, "Env": o.env,
		"ComplaintDetail": map[string]any{
			"ComplaintId": id, "ComplaintTime": now, "ComplaintDesc": req.Content,
			"ComplaintState": "PENDING", "Amount": o.orderFee,
		},
	}
	x.mu.Unlock()
	answer := map[string]any{"complaint_id": id, "order_id": o.orderID, "wx_order_id": o.wxOrderID}
	if _, ok := x.s.pushTarget(app.AppID); ok {
		first := x.deliver(r.Context(), app.AppID, msg, 1)
		answer["push"] = first
		if !first.Acknowledged {
			x.retryLater(app.AppID, msg, 2)
		}
	} else {
		answer["push_error"] = "no weixin_message_push for " + strconv.Quote(app.AppID)
	}
	writeJSON(w, http.StatusOK, okBody(answer))
}
