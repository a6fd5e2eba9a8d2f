package wxpay

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-unicloud/unicloud/signing"
)

// V3PrepayKind is the APIv3 order path for a uni-app client type:
// mp-weixin and h5-weixin → jsapi, app-plus → app, native → native, h5 → h5
// (/v3/pay/transactions/{kind}).
func V3PrepayKind(clientType string) (string, bool) {
	switch clientType {
	case "mp-weixin", "h5-weixin":
		return "jsapi", true
	case "app-plus":
		return "app", true
	case "native":
		return "native", true
	case "h5":
		return "h5", true
	}
	return "", false
}

// validV3ID reports whether s can be put in an APIv3 path: out_trade_no,
// transaction_id and out_refund_no are letters, digits and _-|*@ (WeChat
// Pay's own charsets; a dot would let ".." name another path).
func validV3ID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_-|*@", c) >= 0) {
			return false
		}
	}
	return true
}

func idParam(name, v string) error {
	if !validV3ID(v) {
		return &ParamError{Msg: "parameter " + name + " must be letters, digits and _-|*@. (at most 64)"}
	}
	return nil
}

// Prepay is PrepayFor with the client's AppID.
func (c *ClientV3) Prepay(ctx context.Context, clientType string, order map[string]any) (map[string]any, error) {
	return c.PrepayFor(ctx, clientType, c.AppID, order)
}

// PrepayFor places an order: POST /v3/pay/transactions/{jsapi,app,native,h5}
// with order (the APIv3 body: description, out_trade_no, notify_url,
// amount, payer…); appid is appID (one bound to the merchant), mchid the
// client's. The answer holds prepay_id (jsapi, app), code_url (native) or
// h5_url (h5).
func (c *ClientV3) PrepayFor(ctx context.Context, clientType, appID string, order map[string]any) (map[string]any, error) {
	kind, ok := V3PrepayKind(clientType)
	if !ok {
		return nil, &ParamError{Msg: "clientType " + strconv.Quote(shortID(clientType)) + " has no WeChat Pay APIv3 order"}
	}
	body := make(map[string]any, len(order)+2)
	for k, v := range order {
		body[k] = v
	}
	body["appid"] = appID
	body["mchid"] = c.MchID
	return c.DoJSON(ctx, http.MethodPost, "/v3/pay/transactions/"+kind, body)
}

// OrderInfo is OrderInfoFor with the client's AppID.
func (c *ClientV3) OrderInfo(clientType string, answer map[string]any) (map[string]string, error) {
	return c.OrderInfoFor(clientType, c.AppID, answer)
}

// OrderInfoFor builds what uni.requestPayment needs from a verified APIv3
// answer to an order placed with appID, signed with the merchant API
// private key (signType RSA):
//
//	mp-weixin, h5-weixin  {appId, timeStamp, nonceStr, package: "prepay_id=…", signType: "RSA", paySign}
//	app-plus              {appid, partnerid, prepayid, package: "Sign=WXPay", noncestr, timestamp, sign}
//	native                {codeUrl}
//	h5                    {mwebUrl}
func (c *ClientV3) OrderInfoFor(clientType, appID string, answer map[string]any) (map[string]string, error) {
	str := func(k string) string { s, _ := answer[k].(string); return s }
	switch clientType {
	case "native":
		if str("code_url") == "" {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "the native order answered no code_url"}
		}
		return map[string]string{"codeUrl": str("code_url")}, nil
	case "h5":
		if str("h5_url") == "" {
			return nil, &UpstreamError{Provider: "wxpay", Reason: "the h5 order answered no h5_url"}
		}
		return map[string]string{"mwebUrl": str("h5_url")}, nil
	case "mp-weixin", "h5-weixin", "app-plus":
	default:
		return nil, &ParamError{Msg: "clientType " + strconv.Quote(shortID(clientType)) + " has no WeChat Pay orderInfo"}
	}
	prepay := str("prepay_id")
	if prepay == "" {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "the order answered no prepay_id"}
	}
	ts := strconv.FormatInt(c.now().Unix(), 10)
	nonce := c.nonce()
	if jsapiClient(clientType) {
		info := jsapiOrderInfo(appID, ts, nonce, prepay, "RSA")
		sign, err := signing.WxpayV3PaySign(c.PrivateKey, appID, ts, nonce, info["package"])
		if err != nil {
			return nil, err
		}
		info["paySign"] = sign
		return info, nil
	}
	// The APP SDK's PayReq: the sign covers appid, timestamp, noncestr and
	// prepayid, in that order.
	sign, err := signing.WxpayV3PaySign(c.PrivateKey, appID, ts, nonce, prepay)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"appid": appID, "partnerid": c.MchID, "prepayid": prepay, "package": "Sign=WXPay",
		"noncestr": nonce, "timestamp": ts, "sign": sign,
	}, nil
}

// QueryOrder reads an order by transaction_id (when not empty) or by
// out_trade_no: GET /v3/pay/transactions/id/{transaction_id}?mchid=… or
// /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=….
func (c *ClientV3) QueryOrder(ctx context.Context, transactionID, outTradeNo string) (map[string]any, error) {
	var p string
	if transactionID != "" {
		if err := idParam("transactionId", transactionID); err != nil {
			return nil, err
		}
		p = "/v3/pay/transactions/id/" + transactionID
	} else {
		if err := idParam("outTradeNo", outTradeNo); err != nil {
			return nil, err
		}
		p = "/v3/pay/transactions/out-trade-no/" + outTradeNo
	}
	return c.DoJSON(ctx, http.MethodGet, p+"?mchid="+url.QueryEscape(c.MchID), nil)
}

// CloseOrder closes an unpaid order: POST
// /v3/pay/transactions/out-trade-no/{out_trade_no}/close {"mchid": …},
// answered 204.
func (c *ClientV3) CloseOrder(ctx context.Context, outTradeNo string) error {
	if err := idParam("outTradeNo", outTradeNo); err != nil {
		return err
	}
	_, err := c.DoJSON(ctx, http.MethodPost, "/v3/pay/transactions/out-trade-no/"+outTradeNo+"/close",
		map[string]any{"mchid": c.MchID})
	return err
}

// Refund asks for a refund: POST /v3/refund/domestic/refunds with refund
// (transaction_id or out_trade_no, out_refund_no, amount{refund, total,
// currency}, reason, notify_url…). Refunds need no client certificate in
// APIv3: the request signature authenticates the merchant.
func (c *ClientV3) Refund(ctx context.Context, refund map[string]any) (map[string]any, error) {
	return c.DoJSON(ctx, http.MethodPost, "/v3/refund/domestic/refunds", refund)
}

// QueryRefund reads a refund by out_refund_no: GET
// /v3/refund/domestic/refunds/{out_refund_no}.
func (c *ClientV3) QueryRefund(ctx context.Context, outRefundNo string) (map[string]any, error) {
	if err := idParam("outRefundNo", outRefundNo); err != nil {
		return nil, err
	}
	return c.DoJSON(ctx, http.MethodGet, "/v3/refund/domestic/refunds/"+outRefundNo, nil)
}

// TradeBill downloads the trade bill of a day (billDate yyyy-MM-dd,
// billType ALL, SUCCESS or REFUND; tarType "" or GZIP): GET
// /v3/bill/tradebill, then the file at its download_url, whose SHA1 must
// be the answer's hash_value. The text is returned decompressed.
func (c *ClientV3) TradeBill(ctx context.Context, billDate, billType, tarType string) ([]byte, error) {
	q := url.Values{"bill_date": {billDate}}
	if billType != "" {
		q.Set("bill_type", billType)
	}
	if tarType != "" {
		q.Set("tar_type", tarType)
	}
	return c.bill(ctx, "/v3/bill/tradebill?"+q.Encode())
}

// FundflowBill downloads the fund-flow bill of a day (accountType BASIC,
// OPERATION or FEES): GET /v3/bill/fundflowbill, then the file, checked
// as TradeBill's.
func (c *ClientV3) FundflowBill(ctx context.Context, billDate, accountType, tarType string) ([]byte, error) {
	q := url.Values{"bill_date": {billDate}}
	if accountType != "" {
		q.Set("account_type", accountType)
	}
	if tarType != "" {
		q.Set("tar_type", tarType)
	}
	return c.bill(ctx, "/v3/bill/fundflowbill?"+q.Encode())
}

// ErrBillHash is the cause of a *SignatureError for a downloaded bill whose
// SHA1 is not the hash_value of the signed answer that named it.
var ErrBillHash = errors.New("the bill file does not match the hash_value of the signed answer")

func (c *ClientV3) bill(ctx context.Context, pathQuery string) ([]byte, error) {
	ans, err := c.DoJSON(ctx, http.MethodGet, pathQuery, nil)
	if err != nil {
		return nil, err
	}
	hashType, _ := ans["hash_type"].(string)
	hashValue, _ := ans["hash_value"].(string)
	download, _ := ans["download_url"].(string)
	if download == "" || hashValue == "" {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: the answer has no download_url or hash_value"}
	}
	if hashType != "" && !strings.EqualFold(hashType, "SHA1") {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: hash_type " + strconv.Quote(shortID(hashType)) + " is not SHA1"}
	}
	u, err := url.Parse(download)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		return nil, &UpstreamError{Provider: "wxpay", Reason: "bill: download_url is not a URL"}
	}
	// The file is fetched from the configured endpoint (the same host as
	// WeChat Pay's download_url), so the signed request never goes to a
	// host the configuration does not name.
	resp, err := c.send(ctx, http.MethodGet, u.RequestURI(), nil, MaxBillBytes)
	if err != nil {
		return nil, err
	}
	if resp.Status != http.StatusOK {
		if resp.Header.Get("Wechatpay-Signature") != "" {
			if err := c.Verify(ctx, resp.Header, resp.Body); err != nil {
				return nil, err
			}
		}
		return nil, v3Failure(resp, u.Path)
	}
	// Bill files are not signed: their SHA1 was, in the answer above.
	sum := sha1.Sum(resp.Body)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), hashValue) {
		return nil, sigError(ErrBillHash)
	}
	body := resp.Body
	if isGzip(body) {
		return gunzipBill(body)
	}
	return body, nil
}

// V3BillDate converts a caller's billDate (yyyyMMdd, as in v2) to APIv3's
// bill_date (yyyy-MM-dd). A yyyy-MM-dd date is kept.
func V3BillDate(d string) (string, error) {
	digits := strings.ReplaceAll(d, "-", "")
	if len(digits) != 8 || strings.TrimLeft(digits, "0123456789") != "" || (len(d) != 8 && len(d) != 10) {
		return "", &ParamError{Msg: "parameter must be a date yyyyMMdd: billDate"}
	}
	if len(d) == 10 && (d[4] != '-' || d[7] != '-') {
		return "", &ParamError{Msg: "parameter must be a date yyyyMMdd: billDate"}
	}
	return fmt.Sprintf("%s-%s-%s", digits[:4], digits[4:6], digits[6:]), nil
}

// V3AccountType converts a caller's accountType (v2's Basic, Operation,
// Fees) to APIv3's BASIC, OPERATION, FEES.
func V3AccountType(t string) (string, error) {
	switch strings.ToUpper(t) {
	case "", "BASIC":
		return "BASIC", nil
	case "OPERATION":
		return "OPERATION", nil
	case "FEES":
		return "FEES", nil
	}
	return "", &ParamError{Msg: "parameter must be Basic, Operation or Fees: accountType"}
}
