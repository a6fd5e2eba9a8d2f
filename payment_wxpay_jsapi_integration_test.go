package unicloud

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/signing"
)

// JSAPI in an official account's pages (clientType h5-weixin) and
// client_app_id, through Caddy against the emulator: one merchant with a
// mini-program (app_id), an official account and an open-platform app,
// on APIv2 and APIv3; the emulator's Recorder shows what WeChat Pay got.

const (
	jsapiOAAppID  = "wx7c3e1a9b5d2f4e60" // the official account (h5-weixin)
	jsapiAppAppID = "wx5e1d2c3b4a596870" // the open-platform mobile app (app-plus)
)

type jsapiIT struct {
	rec  *emulator.Recorder
	base string
}

func newJSAPIIT(t *testing.T) *jsapiIT {
	t.Helper()
	dir := payV3Files(t)
	rec := new(emulator.Recorder)
	emu := emulator.New(emulator.Config{
		WeixinApps:             map[string]string{payWxAppID: "mini-secret"},
		WeixinOfficialAccounts: map[string]string{jsapiOAAppID: "oa-secret"},
		WeixinOpenApps:         map[string]string{jsapiAppAppID: "app-secret"},
		WxpayMerchants:         []emulator.WxpayMerchant{{MchID: payWxMchID, Key: payWxKey}},
		WxpayV3Merchants: []emulator.WxpayV3Merchant{{MchID: payV3MchID2, APIv3Key: payV3Key,
			MerchantKey: pubPEMOf(&payV3Keys.merchant.PublicKey), PublicKeyID: payV3PubKey,
			PlatformPrivateKey: string(mustReadFile(t, filepath.Join(dir, "platform_key.pem")))}},
		Record: rec.Record,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	addr := freeAddr(t)
	v2 := func(path, signType string) string {
		return fmt.Sprintf(`
	handle_path /%s/* {
		unicloud_payment wxpay {
			app_id %s
			client_app_id h5-weixin %s
			client_app_id app-plus %s
			mch_id %s
			key %s
			sign_type %s
			notify_url http://127.0.0.1:1/notify/wxpay
			endpoint %s
		}
	}`, path, payWxAppID, jsapiOAAppID, jsapiAppAppID, payWxMchID, payWxKey, signType, srv.URL)
	}
	loadCaddy(t, globalOptions(filepath.Join(dir, "storage"), "")+fmt.Sprintf(`
http://%s {%s%s
	handle_path /v3/* {
		unicloud_payment wxpay {
			version v3
			app_id %s
			client_app_id h5-weixin %s
			client_app_id app-plus %s
			mch_id %s
			private_key {file.%s/apiclient_key.pem}
			serial_no %s
			platform_key %s {file.%s/platform_pub_key.pem}
			notify_url http://127.0.0.1:1/notify/wxpay
			endpoint %s
		}
	}
}
`, addr, v2("v2", "MD5"), v2("v2h", "HMAC-SHA256"), payWxAppID, jsapiOAAppID, jsapiAppAppID, payV3MchID2, dir, payV3Serial,
		payV3PubKey, dir, srv.URL))
	return &jsapiIT{rec: rec, base: "http://" + addr}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsapiOrderInfo is the answer's orderInfo, its values as text.
func jsapiOrderInfo(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	info, ok := m["orderInfo"].(map[string]any)
	if !ok {
		t.Fatalf("no orderInfo: %v", m)
	}
	out := map[string]string{}
	for k, v := range info {
		s, ok := v.(string)
		if !ok {
			t.Errorf("orderInfo %s is %T, not a string", k, v)
		}
		out[k] = s
	}
	return out
}

func keysOf(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var jsapiInfoKeys = []string{"appId", "nonceStr", "package", "paySign", "signType", "timeStamp"}

// TestPaymentWxpayJSAPIV2: an h5-weixin order on APIv2 is a JSAPI
// unifiedorder with the official account's appid and the payer's openid;
// its orderInfo names that appid and its paySign verifies with the key
// (MD5 and HMAC-SHA256). Without openid: 400 naming it, nothing sent.
// client_app_id app-plus puts the open-platform app's appid in the order
// and its orderInfo; orderQuery with clientType h5-weixin (body or header)
// names the official account's appid.
func TestPaymentWxpayJSAPIV2(t *testing.T) {
	it := newJSAPIIT(t)
	for _, tc := range []struct{ path, signType string }{{"v2", signing.SignTypeMD5}, {"v2h", signing.SignTypeHMACSHA256}} {
		t.Run(tc.signType, func(t *testing.T) {
			base := it.base + "/" + tc.path + "/"
			no := "j2-" + tc.path
			status, m := payPost(t, base+"getOrderInfo", `{"clientType":"h5-weixin","openid":"oOfficialPayer","body":"b","outTradeNo":"`+no+`","totalFee":1}`)
			if status != 200 || num(m["errCode"]) != 0 || m["appId"] != jsapiOAAppID || m["tradeType"] != "JSAPI" {
				t.Fatalf("getOrderInfo h5-weixin: %d %v", status, m)
			}
			info := jsapiOrderInfo(t, m)
			if !reflect.DeepEqual(keysOf(info), jsapiInfoKeys) || info["appId"] != jsapiOAAppID || info["signType"] != tc.signType ||
				!strings.HasPrefix(info["package"], "prepay_id=wx") {
				t.Errorf("orderInfo %v", info)
			}
			signed := map[string]string{"sign": info["paySign"]}
			for _, k := range []string{"appId", "timeStamp", "nonceStr", "package", "signType"} {
				signed[k] = info[k]
			}
			if err := signing.WxpayV2VerifyType(signed, payWxKey, tc.signType); err != nil {
				t.Errorf("paySign: %v", err)
			}
			r, _ := it.rec.Last("/pay/unifiedorder")
			f := r.Fields()
			if f["appid"] != jsapiOAAppID || f["trade_type"] != "JSAPI" || f["openid"] != "oOfficialPayer" || f["mch_id"] != payWxMchID {
				t.Errorf("unifiedorder %v", f)
			}

			sent := it.rec.Count("/pay/unifiedorder")
			status, m = payPost(t, base+"getOrderInfo", `{"body":"b","outTradeNo":"j2-none","totalFee":1}`, "X-Unicloud-Client-Type", "h5-weixin")
			if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" || !strings.Contains(fmt.Sprint(m["errMsg"]), "openid") {
				t.Errorf("no openid: %d %v", status, m)
			}
			if it.rec.Count("/pay/unifiedorder") != sent {
				t.Error("an order without openid reached WeChat Pay")
			}

			status, m = payPost(t, base+"getOrderInfo", `{"clientType":"app-plus","body":"b","outTradeNo":"`+no+`-app","totalFee":1}`)
			app := jsapiOrderInfo(t, m)
			if status != 200 || app["appid"] != jsapiAppAppID || app["partnerid"] != payWxMchID || app["package"] != "Sign=WXPay" {
				t.Fatalf("getOrderInfo app-plus: %d %v", status, m)
			}
			if err := signing.WxpayV2VerifyType(app, payWxKey, tc.signType); err != nil {
				t.Errorf("app-plus sign: %v", err)
			}
			if r, _ := it.rec.Last("/pay/unifiedorder"); r.Fields()["appid"] != jsapiAppAppID || r.Fields()["trade_type"] != "APP" {
				t.Errorf("unifiedorder app-plus %v", r.Fields())
			}

			for _, q := range []struct {
				body, header, appid string
			}{
				{`{"outTradeNo":"` + no + `","clientType":"h5-weixin"}`, "", jsapiOAAppID},
				{`{"outTradeNo":"` + no + `"}`, "h5-weixin", jsapiOAAppID},
				{`{"outTradeNo":"` + no + `-app","clientType":"app-plus"}`, "", jsapiAppAppID},
				{`{"outTradeNo":"` + no + `"}`, "", payWxAppID},
			} {
				var hdr []string
				if q.header != "" {
					hdr = []string{"X-Unicloud-Client-Type", q.header}
				}
				status, m := payPost(t, base+"orderQuery", q.body, hdr...)
				r, _ := it.rec.Last("/pay/orderquery")
				if r.Fields()["appid"] != q.appid {
					t.Errorf("orderQuery %s (header %q): appid %q sent, want %q", q.body, q.header, r.Fields()["appid"], q.appid)
				}
				if q.appid != payWxAppID && (status != 200 || m["tradeState"] != "NOTPAY" || m["appId"] != q.appid) {
					t.Errorf("orderQuery %s: %d %v", q.body, status, m)
				}
			}
		})
	}
}

// TestPaymentWxpayJSAPIV3: an h5-weixin order on APIv3 is POST
// /v3/pay/transactions/jsapi with the official account's appid and
// payer.openid; its orderInfo (signType RSA) verifies with the merchant's
// public key over appId\ntimeStamp\nnonceStr\npackage\n. Without openid:
// 400 naming it, nothing sent. client_app_id app-plus: the app's appid in
// /v3/pay/transactions/app and its orderInfo. A query sends no appid.
func TestPaymentWxpayJSAPIV3(t *testing.T) {
	it := newJSAPIIT(t)
	base := it.base + "/v3/"
	status, m := payPost(t, base+"getOrderInfo", `{"clientType":"h5-weixin","openid":"oOfficialPayer","body":"b","outTradeNo":"j3-1","totalFee":2}`)
	if status != 200 || num(m["errCode"]) != 0 || m["appId"] != jsapiOAAppID || m["tradeType"] != "JSAPI" {
		t.Fatalf("getOrderInfo h5-weixin: %d %v", status, m)
	}
	info := jsapiOrderInfo(t, m)
	if !reflect.DeepEqual(keysOf(info), jsapiInfoKeys) || info["appId"] != jsapiOAAppID || info["signType"] != "RSA" ||
		!strings.HasPrefix(info["package"], "prepay_id=wx") {
		t.Errorf("orderInfo %v", info)
	}
	sig, err := base64.StdEncoding.DecodeString(info["paySign"])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(info["appId"] + "\n" + info["timeStamp"] + "\n" + info["nonceStr"] + "\n" + info["package"] + "\n"))
	if err := rsa.VerifyPKCS1v15(&payV3Keys.merchant.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("paySign: %v", err)
	}
	r, ok := it.rec.Last("/v3/pay/transactions/jsapi")
	var body struct {
		AppID string `json:"appid"`
		MchID string `json:"mchid"`
		Payer struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
	}
	if !ok || json.Unmarshal(r.Body, &body) != nil || body.AppID != jsapiOAAppID || body.MchID != payV3MchID2 || body.Payer.OpenID != "oOfficialPayer" {
		t.Errorf("/v3/pay/transactions/jsapi got %s", r.Body)
	}

	sent := len(it.rec.Requests(""))
	status, m = payPost(t, base+"getOrderInfo", `{"clientType":"h5-weixin","body":"b","outTradeNo":"j3-none","totalFee":1}`)
	if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" || !strings.Contains(fmt.Sprint(m["errMsg"]), "openid") {
		t.Errorf("no openid: %d %v", status, m)
	}
	if len(it.rec.Requests("")) != sent {
		t.Error("an order without openid reached WeChat Pay")
	}

	status, m = payPost(t, base+"getOrderInfo", `{"clientType":"app-plus","body":"b","outTradeNo":"j3-app","totalFee":1}`)
	app := jsapiOrderInfo(t, m)
	if status != 200 || app["appid"] != jsapiAppAppID || m["appId"] != jsapiAppAppID || app["package"] != "Sign=WXPay" {
		t.Fatalf("getOrderInfo app-plus: %d %v", status, m)
	}
	if r, ok := it.rec.Last("/v3/pay/transactions/app"); !ok || !strings.Contains(string(r.Body), `"appid":"`+jsapiAppAppID+`"`) {
		t.Errorf("/v3/pay/transactions/app got %s", r.Body)
	}

	status, m = payPost(t, base+"orderQuery", `{"outTradeNo":"j3-1","clientType":"h5-weixin"}`)
	if status != 200 || m["tradeState"] != "NOTPAY" || m["appId"] != jsapiOAAppID || num(m["totalFee"]) != 2 {
		t.Errorf("orderQuery: %d %v", status, m)
	}
	if r, _ := it.rec.Last("/v3/pay/transactions/out-trade-no/j3-1"); r.Query.Encode() != "mchid="+payV3MchID2 {
		t.Errorf("orderQuery sent %v", r.Query)
	}
}
