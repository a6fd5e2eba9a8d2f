package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-unicloud/unicloud/casing"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// WeChat Pay APIv3 behind the same calls: callers send the v2 parameters
// (body, totalFee in fen, spbillCreateIp, billDate yyyyMMdd…) and get the
// v2 answers; the gateway writes the APIv3 JSON requests and reads the
// APIv3 answers.

// hasV3Fields reports whether an APIv3-only option is set.
func (h *Payment) hasV3Fields() bool {
	return h.SerialNo != "" || h.APIv3Key != "" || len(h.PlatformKeys) > 0 || h.PlatformCerts != "" ||
		h.PlatformRoot != "" || h.MaxSkew != 0
}

// provisionWxpayV3 parses the merchant API private key and takes the
// merchant's platform key store (configured keys, and downloads with
// platform_certs auto). It makes no network call.
func (h *Payment) provisionWxpayV3(ctx caddy.Context, hc *http.Client) error {
	if h.MaxSkew <= 0 {
		h.MaxSkew = caddy.Duration(wxpay.DefaultV3MaxSkew)
	}
	endpoint := h.Endpoint
	if endpoint == "" {
		endpoint = wxpay.DefaultEndpoint
	}
	h.wx3 = &wxpay.ClientV3{
		AppID: h.AppID, MchID: h.MchID, SerialNo: h.SerialNo, Endpoint: endpoint,
		MaxSkew: time.Duration(h.MaxSkew), HTTP: hc,
	}
	if h.PrivateKey == "" || h.MchID == "" {
		return nil // Validate names the problem
	}
	key, err := signing.ParseRSAPrivateKey(h.PrivateKey)
	if err != nil {
		return fmt.Errorf("unicloud_payment wxpay v3: private_key: %w", err)
	}
	h.wx3.PrivateKey = key
	if len(h.PlatformKeys) == 0 && h.PlatformCerts == "" {
		return nil // Validate: no way to verify answers
	}
	keys := make(map[string]string, len(h.PlatformKeys))
	for _, pk := range h.PlatformKeys {
		if pk.Serial == "" || pk.Key == "" {
			return errors.New("unicloud_payment wxpay v3: platform_key needs a serial and a key")
		}
		if _, dup := keys[pk.Serial]; dup {
			return fmt.Errorf("unicloud_payment wxpay v3: platform_key %s is given twice", pk.Serial)
		}
		keys[pk.Serial] = pk.Key
	}
	if h.PlatformCerts != "" && h.PlatformCerts != "auto" {
		return nil // Validate names the problem
	}
	store, release, err := acquirePlatformStore(ctx, PlatformStoreConfig{
		Endpoint: endpoint, MchID: h.MchID, Keys: keys, Auto: h.PlatformCerts == "auto",
		SerialNo: h.SerialNo, PrivateKey: key, APIv3Key: h.APIv3Key, Root: h.PlatformRoot,
		MaxSkew: time.Duration(h.MaxSkew), HTTP: hc,
	})
	if err != nil {
		return fmt.Errorf("unicloud_payment wxpay v3: %w", err)
	}
	h.releasePlatform = release
	h.wx3.PlatformKeys = store
	return nil
}

// validateWxpayV3 checks an APIv3 configuration.
func (h *Payment) validateWxpayV3() error {
	const p = "unicloud_payment wxpay v3: "
	if h.AppID == "" || h.MchID == "" || h.PrivateKey == "" || h.SerialNo == "" {
		return errors.New(p + "app_id, mch_id, private_key and serial_no are required")
	}
	if !isSerialNo(h.SerialNo) {
		return errors.New(p + "serial_no must be the merchant API certificate's serial number in hex (as the merchant platform shows it)")
	}
	if h.Key != "" || h.Pfx != "" || h.PfxPassword != "" || h.SignType != "" || h.Sandbox || h.KeyType != "" || h.AlipayPublicKey != "" {
		return errors.New(p + "key, pfx, pfx_password, sign_type, sandbox, key_type and alipay_public_key are not APIv3 options")
	}
	if h.PlatformCerts != "" && h.PlatformCerts != "auto" {
		return fmt.Errorf(p+"platform_certs must be auto, not %q", h.PlatformCerts)
	}
	if len(h.PlatformKeys) == 0 && h.PlatformCerts == "" {
		return errors.New(p + "answers cannot be verified: configure platform_key or platform_certs auto")
	}
	if h.PlatformCerts == "auto" && h.APIv3Key == "" {
		return errors.New(p + "platform_certs auto needs api_v3_key (it decrypts the downloaded certificates)")
	}
	if h.APIv3Key != "" {
		if err := checkAPIv3Key("api_v3_key", h.APIv3Key); err != nil {
			return errors.New(p + err.Error())
		}
	}
	if h.PlatformRoot != "" && h.PlatformCerts != "auto" {
		return errors.New(p + "platform_root needs platform_certs auto")
	}
	if h.MaxSkew < 0 {
		return errors.New(p + "max_skew must be positive")
	}
	if h.wx3 == nil || h.wx3.PrivateKey == nil || h.wx3.PlatformKeys == nil {
		return errors.New(p + "not provisioned")
	}
	return nil
}

// isSerialNo reports whether s has the shape of a certificate serial
// number in hex.
func isSerialNo(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// cleanupWxpayV3 gives back the platform key store and closes idle
// connections.
func (h *Payment) cleanupWxpayV3() {
	if h.releasePlatform != nil {
		h.releasePlatform()
		h.releasePlatform = nil
	}
	if h.wx3 != nil && h.wx3.HTTP != nil {
		h.wx3.HTTP.CloseIdleConnections()
	}
}

func (h *Payment) wxpayV3Call(ctx context.Context, name string, in payParams) (map[string]any, error) {
	c := h.wx3
	switch name {
	case callGetOrderInfo:
		return h.wxpayV3Order(ctx, in)
	case callOrderQuery:
		field, id, err := in.oneOf("transactionId", "outTradeNo")
		if err != nil {
			return nil, err
		}
		var ans map[string]any
		if field == "transactionId" {
			ans, err = c.QueryOrder(ctx, id, "")
		} else {
			ans, err = c.QueryOrder(ctx, "", id)
		}
		if err != nil {
			return nil, err
		}
		return wxpay.V3OrderAnswer(ans), nil
	case callCloseOrder:
		no, err := in.required("outTradeNo")
		if err != nil {
			return nil, err
		}
		if err := c.CloseOrder(ctx, no); err != nil {
			return nil, err
		}
		return map[string]any{"appId": c.AppID, "mchId": c.MchID, "outTradeNo": no, "resultMsg": "OK"}, nil
	case callRefund:
		body, err := wxpayV3RefundBody(in)
		if err != nil {
			return nil, err
		}
		ans, err := c.Refund(ctx, body)
		if err != nil {
			return nil, err
		}
		return wxpay.V3RefundAnswer(ans), nil
	case callRefundQuery:
		no, err := in.str("outRefundNo")
		if err != nil {
			return nil, err
		}
		if no == "" {
			if _, _, err := in.oneOf("refundId", "transactionId", "outTradeNo"); err == nil {
				return nil, newError(http.StatusBadRequest, ErrNotSupported, "WeChat Pay APIv3 finds a refund by outRefundNo only")
			}
			return nil, missing("outRefundNo")
		}
		ans, err := c.QueryRefund(ctx, no)
		if err != nil {
			return nil, err
		}
		return wxpay.V3RefundQueryAnswer(ans), nil
	case callDownloadBill, callDownloadFundflow:
		return h.wxpayV3Bill(ctx, name, in)
	}
	return nil, newError(http.StatusBadRequest, ErrNotSupported, name+" is not supported by WeChat Pay (use closeOrder or refund)")
}

func (h *Payment) wxpayV3Bill(ctx context.Context, name string, in payParams) (map[string]any, error) {
	d, err := in.required("billDate")
	if err != nil {
		return nil, err
	}
	date, err := wxpay.V3BillDate(d)
	if err != nil {
		return nil, err
	}
	tarType, err := in.str("tarType")
	if err != nil {
		return nil, err
	}
	if tarType != "" && tarType != "GZIP" {
		return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be GZIP: tarType")
	}
	var text []byte
	if name == callDownloadBill {
		billType, err := in.str("billType")
		if err != nil {
			return nil, err
		}
		switch billType {
		case "":
			billType = "ALL"
		case "ALL", "SUCCESS", "REFUND":
		default:
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be ALL, SUCCESS or REFUND: billType")
		}
		text, err = h.wx3.TradeBill(ctx, date, billType, tarType)
		if err != nil {
			return nil, err
		}
	} else {
		at, err := in.str("accountType")
		if err != nil {
			return nil, err
		}
		accountType, err := wxpay.V3AccountType(at)
		if err != nil {
			return nil, err
		}
		text, err = h.wx3.FundflowBill(ctx, date, accountType, tarType)
		if err != nil {
			return nil, err
		}
	}
	return map[string]any{"content": string(text)}, nil
}

// wxpayV3OrderTaken are the caller's getOrderInfo parameters the gateway
// maps itself (or drops, for v2 fields APIv3 has no place for); the others
// are passed on as APIv3 fields, snake_cased.
var wxpayV3OrderTaken = map[string]bool{
	"clientType": true, "tradeType": true, "body": true, "description": true, "outTradeNo": true,
	"totalFee": true, "feeType": true, "openid": true, "notifyUrl": true, "attach": true, "timeExpire": true,
	"goodsTag": true, "spbillCreateIp": true, "deviceInfo": true, "sceneInfo": true, "detail": true,
	"profitSharing": true, "productId": true, "limitPay": true, "receipt": true, "timeStart": true,
	"appid": true, "appId": true, "mchId": true, "mchid": true, "sign": true, "signType": true,
	"nonceStr": true, "key": true, "subject": true, "amount": true, "payer": true,
}

// wxpayV3ClientType is the caller's client type: clientType (or the
// X-Unicloud-Client-Type header), else tradeType, else mp-weixin when an
// openid is given.
func wxpayV3ClientType(in payParams) (string, error) {
	clientType, err := in.str("clientType")
	if err != nil {
		return "", err
	}
	if clientType == "" {
		tt, _ := in.str("tradeType")
		clientType = wxpayTradeTypes[tt]
	}
	if clientType == "" {
		if openid, _ := in.str("openid"); openid != "" {
			return "mp-weixin", nil
		}
		return "", missing("clientType (or the X-Unicloud-Client-Type header)")
	}
	if _, ok := wxpay.V3PrepayKind(clientType); !ok {
		return "", newError(http.StatusBadRequest, ErrNotSupported, "clientType "+strconv.Quote(clientType)+" is not supported by WeChat Pay (mp-weixin, app-plus, native, h5)")
	}
	return clientType, nil
}

// wxpayV3Order places an APIv3 order and returns the orderInfo of the
// caller's client type.
func (h *Payment) wxpayV3Order(ctx context.Context, in payParams) (map[string]any, error) {
	clientType, err := wxpayV3ClientType(in)
	if err != nil {
		return nil, err
	}
	body, err := wxpayV3OrderBody(in, clientType, h.NotifyURL)
	if err != nil {
		return nil, err
	}
	ans, err := h.wx3.Prepay(ctx, clientType, body)
	if err != nil {
		return nil, err
	}
	info, err := h.wx3.OrderInfo(clientType, ans)
	if err != nil {
		return nil, err
	}
	out := wxpay.V3PrepayAnswer(h.wx3, clientType, ans)
	out["orderInfo"] = info
	return out, nil
}

// wxpayV3OrderBody writes the APIv3 order (without appid and mchid) from
// the caller's v2 parameters: body → description, totalFee → amount.total,
// openid → payer.openid (mp-weixin), spbillCreateIp →
// scene_info.payer_client_ip (required for h5), sceneInfo.h5Info →
// scene_info.h5_info, timeExpire yyyyMMddHHmmss → RFC 3339 China time.
func wxpayV3OrderBody(in payParams, clientType, defaultNotify string) (map[string]any, error) {
	desc, err := in.str("body")
	if err != nil {
		return nil, err
	}
	if desc == "" {
		if desc, err = in.str("description"); err != nil {
			return nil, err
		}
	}
	if desc == "" {
		return nil, missing("body")
	}
	outTradeNo, err := in.required("outTradeNo")
	if err != nil {
		return nil, err
	}
	total, err := in.positiveFen("totalFee")
	if err != nil {
		return nil, err
	}
	currency, err := in.str("feeType")
	if err != nil {
		return nil, err
	}
	if currency == "" {
		currency = "CNY"
	}
	notify, err := in.str("notifyUrl")
	if err != nil {
		return nil, err
	}
	if notify == "" {
		if defaultNotify == "" {
			return nil, missing("notifyUrl (no notify_url is configured)")
		}
		notify = defaultNotify
	}
	body := map[string]any{
		"description": desc, "out_trade_no": outTradeNo, "notify_url": notify,
		"amount": map[string]any{"total": total, "currency": currency},
	}
	if clientType == "mp-weixin" {
		openid, err := in.required("openid")
		if err != nil {
			return nil, err
		}
		body["payer"] = map[string]any{"openid": openid}
	}
	for _, f := range [][2]string{{"attach", "attach"}, {"goodsTag", "goods_tag"}} {
		v, err := in.str(f[0])
		if err != nil {
			return nil, err
		}
		if v != "" {
			body[f[1]] = v
		}
	}
	if v, err := in.str("timeExpire"); err != nil {
		return nil, err
	} else if v != "" {
		t, err := v3Time(v)
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
	if ps, _ := in.str("profitSharing"); ps == "Y" {
		body["settle_info"] = map[string]any{"profit_sharing": true}
	}
	scene, err := wxpayV3Scene(in, clientType)
	if err != nil {
		return nil, err
	}
	if scene != nil {
		body["scene_info"] = scene
	}
	for k, v := range in {
		if wxpayV3OrderTaken[k] || v == nil {
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

// wxpayV3Scene builds scene_info: the caller's sceneInfo (v2's
// {h5Info: {type, wapUrl, wapName}} or APIv3's own), payer_client_ip from
// spbillCreateIp and device_id from deviceInfo. h5 orders need the payer's
// IP and an h5_info type (default Wap).
func wxpayV3Scene(in payParams, clientType string) (map[string]any, error) {
	scene := map[string]any{}
	if v, ok := in["sceneInfo"]; ok && v != nil {
		obj, err := jsonObject("sceneInfo", v)
		if err != nil {
			return nil, err
		}
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be an object: sceneInfo")
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
	ip, err := in.str("spbillCreateIp")
	if err != nil {
		return nil, err
	}
	if ip != "" {
		scene["payer_client_ip"] = ip
	}
	dev, err := in.str("deviceInfo")
	if err != nil {
		return nil, err
	}
	if dev != "" {
		scene["device_id"] = dev
	}
	if clientType == "h5" {
		if s, _ := scene["payer_client_ip"].(string); s == "" {
			return nil, missing("spbillCreateIp (the payer's IP, required for h5)")
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
			return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a JSON object: "+name)
		}
		v = x
	}
	switch v.(type) {
	case map[string]any, []any:
		return casing.ToSnake(v), nil
	}
	return nil, newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a JSON object: "+name)
}

// v3Time converts v2's yyyyMMddHHmmss (China time) to RFC 3339; an RFC
// 3339 time is kept.
func v3Time(s string) (string, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Format(time.RFC3339), nil
	}
	t, err := time.ParseInLocation("20060102150405", s, time.FixedZone("CST", 8*3600))
	if err != nil {
		return "", newError(http.StatusBadRequest, ErrBadRequest, "parameter must be a time yyyyMMddHHmmss: timeExpire")
	}
	return t.Format(time.RFC3339), nil
}

// wxpayV3RefundTaken are the refund parameters the gateway maps itself.
var wxpayV3RefundTaken = map[string]bool{
	"transactionId": true, "outTradeNo": true, "outRefundNo": true, "totalFee": true, "refundFee": true,
	"refundFeeType": true, "feeType": true, "refundDesc": true, "reason": true, "notifyUrl": true,
	"refundAccount": true, "opUserId": true, "appid": true, "appId": true, "mchId": true, "mchid": true,
	"sign": true, "signType": true, "nonceStr": true, "key": true, "amount": true, "clientType": true,
}

// wxpayV3RefundBody writes /v3/refund/domestic/refunds from the caller's
// v2 refund parameters: transactionId or outTradeNo, outRefundNo,
// totalFee and refundFee (fen) → amount, refundDesc → reason, refundAccount
// REFUND_SOURCE_RECHARGE_FUNDS → funds_account AVAILABLE.
func wxpayV3RefundBody(in payParams) (map[string]any, error) {
	field, id, err := in.oneOf("transactionId", "outTradeNo")
	if err != nil {
		return nil, err
	}
	outRefundNo, err := in.required("outRefundNo")
	if err != nil {
		return nil, err
	}
	total, err := in.positiveFen("totalFee")
	if err != nil {
		return nil, err
	}
	refund, err := in.positiveFen("refundFee")
	if err != nil {
		return nil, err
	}
	currency, err := in.str("refundFeeType")
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
		v, err := in.str(f[0])
		if err != nil {
			return nil, err
		}
		if v != "" {
			body[f[1]] = v
		}
	}
	acct, err := in.str("refundAccount")
	if err != nil {
		return nil, err
	}
	if acct == "REFUND_SOURCE_RECHARGE_FUNDS" || acct == "AVAILABLE" {
		body["funds_account"] = "AVAILABLE"
	}
	for k, v := range in {
		if wxpayV3RefundTaken[k] || v == nil {
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
