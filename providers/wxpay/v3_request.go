package wxpay

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// The APIv3 requests written from the caller's v2 parameters.

// v3OrderTaken are the caller's getOrderInfo parameters the gateway
// maps itself (or drops, for v2 fields APIv3 has no place for); the others
// are passed on as APIv3 fields, snake_cased.
var v3OrderTaken = map[string]bool{
	"clientType": true, "tradeType": true, "body": true, "description": true, "outTradeNo": true,
	"totalFee": true, "feeType": true, "openid": true, "notifyUrl": true, "attach": true, "timeExpire": true,
	"goodsTag": true, "spbillCreateIp": true, "deviceInfo": true, "sceneInfo": true, "detail": true,
	"profitSharing": true, "productId": true, "limitPay": true, "receipt": true, "timeStart": true,
	"appid": true, "appId": true, "mchId": true, "mchid": true, "sign": true, "signType": true,
	"nonceStr": true, "key": true, "subject": true, "amount": true, "payer": true,
}

// v3OrderBody writes the APIv3 order (without appid and mchid) from
// the caller's v2 parameters: body → description, totalFee → amount.total,
// openid → payer.openid (mp-weixin, h5-weixin), spbillCreateIp →
// scene_info.payer_client_ip (required for h5), sceneInfo.h5Info →
// scene_info.h5_info, timeExpire yyyyMMddHHmmss → RFC 3339 China time.
func v3OrderBody(in pay.Params, clientType, defaultNotify string) (map[string]any, error) {
	desc, err := in.Str("body")
	if err != nil {
		return nil, err
	}
	if desc == "" {
		if desc, err = in.Str("description"); err != nil {
			return nil, err
		}
	}
	if desc == "" {
		return nil, pay.Missing("body")
	}
	outTradeNo, err := in.Required("outTradeNo")
	if err != nil {
		return nil, err
	}
	total, err := in.PositiveFen("totalFee")
	if err != nil {
		return nil, err
	}
	currency, err := in.Str("feeType")
	if err != nil {
		return nil, err
	}
	if currency == "" {
		currency = "CNY"
	}
	notify, err := in.Str("notifyUrl")
	if err != nil {
		return nil, err
	}
	if notify == "" {
		if defaultNotify == "" {
			return nil, pay.Missing("notifyUrl (no notify_url is configured)")
		}
		notify = defaultNotify
	}
	body := map[string]any{
		"description": desc, "out_trade_no": outTradeNo, "notify_url": notify,
		"amount": map[string]any{"total": total, "currency": currency},
	}
	if jsapiClient(clientType) {
		openid, err := in.Required("openid")
		if err != nil {
			return nil, err
		}
		body["payer"] = map[string]any{"openid": openid}
	}
	for _, f := range [][2]string{{"attach", "attach"}, {"goodsTag", "goods_tag"}} {
		v, err := in.Str(f[0])
		if err != nil {
			return nil, err
		}
		if v != "" {
			body[f[1]] = v
		}
	}
	if v, err := in.Str("timeExpire"); err != nil {
		return nil, err
	} else if v != "" {
		t, err := v3ExpireTime(v)
		if err != nil {
			return nil, err
		}
		body["time_expire"] = t
	}
	if d, ok := in["detail"]; ok && d != nil {
		v, err := jsonObject("detail", d)
		if err != nil {
			return nil, err
		}
		body["detail"] = v
	}
	if ps, _ := in.Str("profitSharing"); ps == "Y" {
		body["settle_info"] = map[string]any{"profit_sharing": true}
	}
	scene, err := v3Scene(in, clientType)
	if err != nil {
		return nil, err
	}
	if scene != nil {
		body["scene_info"] = scene
	}
	for k, v := range in {
		if v3OrderTaken[k] || v == nil {
			continue
		}
		name := casing.SnakeKey(k)
		if _, set := body[name]; set {
			continue
		}
		body[name] = casing.ToSnake(v)
	}
	return body, nil
}

// v3Scene builds scene_info: the caller's sceneInfo (v2's
// {h5Info: {type, wapUrl, wapName}} or APIv3's own), payer_client_ip from
// spbillCreateIp and device_id from deviceInfo. h5 orders need the payer's
// IP and an h5_info type (default Wap).
func v3Scene(in pay.Params, clientType string) (map[string]any, error) {
	scene := map[string]any{}
	if v, ok := in["sceneInfo"]; ok && v != nil {
		obj, err := jsonObject("sceneInfo", v)
		if err != nil {
			return nil, err
		}
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, pay.BadRequest("parameter must be an object: sceneInfo")
		}
		for k, e := range m {
			scene[k] = e
		}
	}
	if h5, ok := scene["h5_info"].(map[string]any); ok {
		// v2's names for the same things.
		for v2, v3 := range map[string]string{"wap_url": "app_url", "wap_name": "app_name"} {
			if v, ok := h5[v2]; ok {
				if _, set := h5[v3]; !set {
					h5[v3] = v
				}
				delete(h5, v2)
			}
		}
	}
	ip, err := in.Str("spbillCreateIp")
	if err != nil {
		return nil, err
	}
	if ip != "" {
		scene["payer_client_ip"] = ip
	}
	dev, err := in.Str("deviceInfo")
	if err != nil {
		return nil, err
	}
	if dev != "" {
		scene["device_id"] = dev
	}
	if clientType == "h5" {
		if s, _ := scene["payer_client_ip"].(string); s == "" {
			return nil, pay.Missing("spbillCreateIp (the payer's IP, required for h5)")
		}
		h5, ok := scene["h5_info"].(map[string]any)
		if !ok {
			h5 = map[string]any{}
			scene["h5_info"] = h5
		}
		if _, ok := h5["type"]; !ok {
			h5["type"] = "Wap"
		}
	}
	if len(scene) == 0 {
		return nil, nil
	}
	return scene, nil
}

// jsonObject is an object or array parameter with snake_case keys; a
// string holding JSON (v2's detail and scene_info are JSON strings) is
// parsed first.
func jsonObject(name string, v any) (any, error) {
	if s, ok := v.(string); ok {
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil || dec.More() {
			return nil, pay.BadRequest("parameter must be a JSON object: " + name)
		}
		v = x
	}
	switch v.(type) {
	case map[string]any, []any:
		return casing.ToSnake(v), nil
	}
	return nil, pay.BadRequest("parameter must be a JSON object: " + name)
}

// v3ExpireTime converts v2's yyyyMMddHHmmss (China time) to RFC 3339; an RFC
// 3339 time is kept.
func v3ExpireTime(s string) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format(time.RFC3339), nil
	}
	t, err := time.ParseInLocation("20060102150405", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		return "", pay.BadRequest("parameter must be a time yyyyMMddHHmmss: timeExpire")
	}
	return t.Format(time.RFC3339), nil
}

// v3RefundTaken are the refund parameters the gateway maps itself.
var v3RefundTaken = map[string]bool{
	"transactionId": true, "outTradeNo": true, "outRefundNo": true, "totalFee": true, "refundFee": true,
	"refundFeeType": true, "feeType": true, "refundDesc": true, "reason": true, "notifyUrl": true,
	"refundAccount": true, "opUserId": true, "appid": true, "appId": true, "mchId": true, "mchid": true,
	"sign": true, "signType": true, "nonceStr": true, "key": true, "amount": true, "clientType": true,
}

// v3RefundBody writes /v3/refund/domestic/refunds from the caller's
// v2 refund parameters: transactionId or outTradeNo, outRefundNo,
// totalFee and refundFee (fen) → amount, refundDesc → reason, refundAccount
// REFUND_SOURCE_RECHARGE_FUNDS → funds_account AVAILABLE.
func v3RefundBody(req *pay.RefundRequest) (map[string]any, error) {
	in := req.Params
	field, id, err := req.ID()
	if err != nil {
		return nil, err
	}
	outRefundNo := req.OutRefundNo
	if outRefundNo == "" {
		return nil, pay.Missing("outRefundNo")
	}
	total, err := req.TotalFee.Positive("totalFee")
	if err != nil {
		return nil, err
	}
	refund, err := req.RefundFee.Positive("refundFee")
	if err != nil {
		return nil, err
	}
	currency, err := in.Str("refundFeeType")
	if err != nil {
		return nil, err
	}
	if currency == "" {
		currency = "CNY"
	}
	body := map[string]any{
		casing.SnakeKey(field): id, "out_refund_no": outRefundNo,
		"amount": map[string]any{"refund": refund, "total": total, "currency": currency},
	}
	for _, f := range [][2]string{{"refundDesc", "reason"}, {"reason", "reason"}, {"notifyUrl", "notify_url"}} {
		v, err := in.Str(f[0])
		if err != nil {
			return nil, err
		}
		if v != "" {
			body[f[1]] = v
		}
	}
	acct, err := in.Str("refundAccount")
	if err != nil {
		return nil, err
	}
	if acct == "REFUND_SOURCE_RECHARGE_FUNDS" || acct == "AVAILABLE" {
		body["funds_account"] = "AVAILABLE"
	}
	for k, v := range in {
		if v3RefundTaken[k] || v == nil {
			continue
		}
		name := casing.SnakeKey(k)
		if _, set := body[name]; set {
			continue
		}
		body[name] = casing.ToSnake(v)
	}
	return body, nil
}
