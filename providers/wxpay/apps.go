package wxpay

import "strings"

// AppClientTypes are the uni-app client types a merchant may name an appid
// for (client_app_id): the mini-program, the official account's pages, the
// open-platform mobile app, the mobile website and the PC website's QR code.
var AppClientTypes = []string{"mp-weixin", "h5-weixin", "app-plus", "h5", "native"}

// IsAppClientType reports whether clientType is one of AppClientTypes.
func IsAppClientType(clientType string) bool {
	for _, ct := range AppClientTypes {
		if ct == clientType {
			return true
		}
	}
	return false
}

// AppClientTypeList is AppClientTypes for an error message:
// "mp-weixin, h5-weixin, app-plus, h5, native".
func AppClientTypeList() string { return strings.Join(AppClientTypes, ", ") }

// AppIDs maps a uni-app client type to the appid its orders are placed
// with, for a merchant that has bound several appids (a mini-program, an
// official account, an open-platform app) to its one mch_id. A client type
// it does not name uses the client's AppID. Nil names none.
type AppIDs map[string]string

// For is clientType's appid, or def.
func (m AppIDs) For(clientType, def string) string {
	if id := m[clientType]; id != "" {
		return id
	}
	return def
}

// jsapiClient reports whether clientType pays through WeChat's JS bridge
// (a JSAPI order, the payer's openid required): the mini-program
// (wx.requestPayment) and the official account's pages (h5-weixin:
// WeixinJSBridge getBrandWCPayRequest, wx.chooseWXPay).
func jsapiClient(clientType string) bool {
	return clientType == "mp-weixin" || clientType == "h5-weixin"
}

// jsapiOrderInfo is the orderInfo of a JSAPI order, before its paySign:
// {appId, timeStamp, nonceStr, package: "prepay_id=…", signType}, spelled
// as wx.requestPayment and getBrandWCPayRequest take it. APIv2 signs these
// five fields with the key (signType MD5 or HMAC-SHA256), APIv3 signs
// "appId\ntimeStamp\nnonceStr\npackage\n" with the merchant private key
// (signType RSA).
func jsapiOrderInfo(appID, timeStamp, nonce, prepayID, signType string) map[string]string {
	return map[string]string{
		"appId":     appID,
		"timeStamp": timeStamp,
		"nonceStr":  nonce,
		"package":   "prepay_id=" + prepayID,
		"signType":  signType,
	}
}
