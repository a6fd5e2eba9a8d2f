package wxpay_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/pay"
	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// The official account's appid in these tests: not the client's AppID, so
// a test passes only when orderInfo names the appid it was given.
const (
	jsapiOA     = "wx7c3e1a9b5d2f4e60"
	jsapiPrepay = "wx201410272009395522657a690389285100"
	jsapiNonce  = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	jsapiTime   = 1414561699
)

// TestV2JSAPIPaySignPinned: an h5-weixin orderInfo on APIv2 with a fixed
// clock and nonce is exactly the documented one: the five fields, appId
// the official account's, and paySign the v2 signature over
// appId, nonceStr, package, signType, timeStamp in that (ASCII) order with
// &key= last. The expected signs are computed here from that string with
// crypto/md5 and crypto/hmac, and pinned as literals computed with md5sum
// and openssl.
func TestV2JSAPIPaySignPinned(t *testing.T) {
	for _, tc := range []struct {
		signType, pinned string
		sum              func(msg string) []byte
	}{
		{signing.SignTypeMD5, "58C9E44D83826C4F2F1D68A94DDE7816", func(msg string) []byte { s := md5.Sum([]byte(msg)); return s[:] }},
		{signing.SignTypeHMACSHA256, "34B11D6B56232E0ED8EF55D5EDBC7717D6CE7B12EAE2851E03A92308C21935A5", func(msg string) []byte {
			m := hmac.New(sha256.New, []byte(payKey))
			m.Write([]byte(msg))
			return m.Sum(nil)
		}},
	} {
		t.Run(tc.signType, func(t *testing.T) {
			c := &wxpay.Client{
				AppID: payAppID, MchID: payMchID, Key: payKey, SignType: tc.signType,
				Now: func() time.Time { return time.Unix(jsapiTime, 0) }, Nonce: func() string { return jsapiNonce },
			}
			info, err := c.OrderInfoFor(context.Background(), "h5-weixin", jsapiOA, map[string]string{"prepay_id": jsapiPrepay})
			if err != nil {
				t.Fatal(err)
			}
			msg := "appId=" + jsapiOA + "&nonceStr=" + jsapiNonce + "&package=prepay_id=" + jsapiPrepay +
				"&signType=" + tc.signType + "&timeStamp=" + strconv.Itoa(jsapiTime) + "&key=" + payKey
			want := map[string]string{
				"appId": jsapiOA, "timeStamp": strconv.Itoa(jsapiTime), "nonceStr": jsapiNonce,
				"package": "prepay_id=" + jsapiPrepay, "signType": tc.signType,
				"paySign": strings.ToUpper(hex.EncodeToString(tc.sum(msg))),
			}
			if !reflect.DeepEqual(info, want) {
				t.Errorf("orderInfo\n got %v\nwant %v", info, want)
			}
			if info["paySign"] != tc.pinned {
				t.Errorf("paySign %s, pinned %s", info["paySign"], tc.pinned)
			}
			// mp-weixin is the same orderInfo with its own appid.
			mp, err := c.OrderInfo(context.Background(), "mp-weixin", map[string]string{"prepay_id": jsapiPrepay})
			if err != nil {
				t.Fatal(err)
			}
			if mp["appId"] != payAppID || mp["paySign"] == info["paySign"] || len(mp) != 6 {
				t.Errorf("mp-weixin orderInfo %v", mp)
			}
		})
	}
}

// TestV3JSAPIPaySignPinned: an h5-weixin orderInfo on APIv3 is signType
// RSA and paySign the base64 RSA-SHA256 signature with the merchant key
// over "appId\ntimeStamp\nnonceStr\npackage\n": with WeChat Pay's published
// example it is the published signature; with the official account's
// appid (not the client's) it is the signature computed here with
// crypto/rsa over that string, and the literal openssl gives.
func TestV3JSAPIPaySignPinned(t *testing.T) {
	v := loadV3Vectors(t)
	key, err := signing.ParseRSAPrivateKey(string(payVectorFile(t, v.Requests.PrivateKeyFile)))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSuffix(v.Requests.MiniProgram.Message, "\n"), "\n")
	ts, _ := strconv.ParseInt(parts[1], 10, 64)
	c := &wxpay.ClientV3{
		AppID: "wxd678efh567hg6787", MchID: "1900007291", PrivateKey: key,
		Now: func() time.Time { return time.Unix(ts, 0) }, Nonce: func() string { return parts[2] },
	}
	ans := map[string]any{"prepay_id": strings.TrimPrefix(parts[3], "prepay_id=")}
	info, err := c.OrderInfoFor("h5-weixin", parts[0], ans)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"appId": parts[0], "timeStamp": parts[1], "nonceStr": parts[2], "package": parts[3],
		"signType": "RSA", "paySign": v.Requests.MiniProgram.Signature,
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("published example\n got %v\nwant %v", info, want)
	}

	info, err = c.OrderInfoFor("h5-weixin", jsapiOA, ans)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(jsapiOA + "\n" + parts[1] + "\n" + parts[2] + "\n" + parts[3] + "\n"))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	want["appId"], want["paySign"] = jsapiOA, base64.StdEncoding.EncodeToString(sig)
	if !reflect.DeepEqual(info, want) {
		t.Errorf("official account\n got %v\nwant %v", info, want)
	}
	const pinned = "Mdf5lkQDSMoAEWRAh3aFtietr5/1HT7l5c9TYb/twYGRJZuJR939kadM0q0LRAeu56E9VzL9DDfvEZbS8TqUxrdGF06ozgTgja9dYtTFddLGn+liP5zstIaIDe8uKtqJ9j83k1LnDCiIwGZ4PCtJlRzCRlmIymCmeI8TZFKCStwpM1e3VM7sQea+8tw0Qc1IHkJs/BgotBJM7AJDxqzNMycOkZAWQvsTZHdT5eyxRRGQT4mDnrYL/hvOff2mCF2RJkFYUlG5V9n9CgWHaosTcFnCd3ogiLMg5tM2nY+Jyh3e8nvtYE17gXlm2YAQlXTcSSvrcohJdlfSY7aMgSsOcg=="
	if info["paySign"] != pinned {
		t.Errorf("paySign %s, pinned %s", info["paySign"], pinned)
	}
	// app-plus names the appid it was given too.
	app, err := c.OrderInfoFor("app-plus", jsapiOA, ans)
	if err != nil {
		t.Fatal(err)
	}
	if app["appid"] != jsapiOA || app["partnerid"] != "1900007291" {
		t.Errorf("app-plus orderInfo %v", app)
	}
}

// TestJSAPIMissingOpenid: an h5-weixin order without openid is a bad
// request naming openid, and nothing reaches WeChat Pay (v2 and v3).
func TestJSAPIMissingOpenid(t *testing.T) {
	order := pay.Params{"clientType": "h5-weixin", "body": "b", "outTradeNo": "o-1", "totalFee": json.Number("1")}
	check := func(t *testing.T, err error, calls int) {
		t.Helper()
		var pe *pay.Error
		if !errors.As(err, &pe) || pe.Kind != pay.ErrBadRequest || !strings.Contains(pe.Msg, "openid") {
			t.Errorf("error %v, want a bad request naming openid", err)
		}
		if calls != 0 {
			t.Errorf("%d requests sent", calls)
		}
	}
	t.Run("v2", func(t *testing.T) {
		f := newV2Fake(t, signing.SignTypeMD5)
		a := &wxpay.PayV2{Client: f.v2Client(), NotifyURL: "https://example.com/n", AppIDs: wxpay.AppIDs{"h5-weixin": jsapiOA}}
		_, err := a.GetOrderInfo(context.Background(), &wxpay.OrderRequest{Params: order})
		check(t, err, int(f.calls.Load()))
	})
	t.Run("v3", func(t *testing.T) {
		f := newV3Fake(t)
		a := &wxpay.PayV3{Client: f.v3Client(), NotifyURL: "https://example.com/n", AppIDs: wxpay.AppIDs{"h5-weixin": jsapiOA}}
		_, err := a.GetOrderInfo(context.Background(), &wxpay.OrderRequest{Params: order})
		check(t, err, int(f.calls.Load()))
	})
}

// TestV3H5WeixinOrder: an h5-weixin APIv3 order goes to
// /v3/pay/transactions/jsapi with the official account's appid and
// payer.openid, and the answer names that appid.
func TestV3H5WeixinOrder(t *testing.T) {
	f := newV3Fake(t)
	f.v3Answer = func(r *http.Request, body []byte) (int, any) {
		return 200, map[string]any{"prepay_id": jsapiPrepay}
	}
	a := &wxpay.PayV3{Client: f.v3Client(), NotifyURL: "https://example.com/n", AppIDs: wxpay.AppIDs{"h5-weixin": jsapiOA}}
	out, err := a.GetOrderInfo(context.Background(), &wxpay.OrderRequest{Params: pay.Params{
		"clientType": "h5-weixin", "openid": "oOA1", "body": "b", "outTradeNo": "o-1", "totalFee": json.Number("1")}})
	if err != nil {
		t.Fatal(err)
	}
	req, body := f.last()
	if req != "POST /v3/pay/transactions/jsapi" || !strings.Contains(body, `"appid":"`+jsapiOA+`"`) || !strings.Contains(body, `"payer":{"openid":"oOA1"}`) {
		t.Errorf("sent %s %s", req, body)
	}
	info, _ := out["orderInfo"].(map[string]string)
	if out["appId"] != jsapiOA || out["tradeType"] != "JSAPI" || info["appId"] != jsapiOA || info["signType"] != "RSA" {
		t.Errorf("answer %v", out)
	}
}

func TestAppIDs(t *testing.T) {
	m := wxpay.AppIDs{"h5-weixin": jsapiOA}
	if m.For("h5-weixin", payAppID) != jsapiOA || m.For("app-plus", payAppID) != payAppID || wxpay.AppIDs(nil).For("h5", payAppID) != payAppID {
		t.Error("AppIDs.For")
	}
	for _, ct := range wxpay.AppClientTypes {
		if !wxpay.IsAppClientType(ct) {
			t.Errorf("%s is not an app client type", ct)
		}
	}
	if wxpay.IsAppClientType("mp-alipay") || wxpay.IsAppClientType("") {
		t.Error("mp-alipay is an app client type")
	}
}

// BenchmarkJSAPIOrderInfo builds the orderInfo of an h5-weixin order: v2
// (MD5 and HMAC-SHA256 over the five fields) and v3 (RSA-2048 SHA256).
func BenchmarkJSAPIOrderInfo(b *testing.B) {
	ctx := context.Background()
	for _, signType := range []string{signing.SignTypeMD5, signing.SignTypeHMACSHA256} {
		c := &wxpay.Client{AppID: payAppID, MchID: payMchID, Key: payKey, SignType: signType}
		ans := map[string]string{"prepay_id": jsapiPrepay}
		b.Run("v2-"+signType, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.OrderInfoFor(ctx, "h5-weixin", jsapiOA, ans); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	v3TestKeys(b)
	c := &wxpay.ClientV3{AppID: v3AppID, MchID: v3MchID, PrivateKey: v3Keys.merchant}
	ans := map[string]any{"prepay_id": jsapiPrepay}
	b.Run("v3-RSA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.OrderInfoFor("h5-weixin", jsapiOA, ans); err != nil {
				b.Fatal(err)
			}
		}
	})
}
