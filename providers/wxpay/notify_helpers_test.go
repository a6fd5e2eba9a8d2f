package wxpay_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-unicloud/unicloud/internal/vectors"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
	"github.com/caddy-unicloud/unicloud/signing"
)

// The published ntVectors live in shared/ntVectors beside the repository;
// UNICLOUD_VECTORS overrides the location. Missing ntVectors fail the test.
type notifyVectors struct {
	WxpayV2Sign struct {
		Params     map[string]string `json:"params"`
		Key        string            `json:"key"`
		MD5        string            `json:"md5"`
		HMACSHA256 string            `json:"hmac_sha256"`
	} `json:"wxpay_v2_sign"`
	WxpayV2RefundReqInfo struct {
		Key       string `json:"key"`
		ReqInfo   string `json:"req_info"`
		Plaintext string `json:"plaintext"`
	} `json:"wxpay_v2_refund_req_info"`
	WxpayV3ResponseVerification struct {
		PublicKeyFile string            `json:"public_key_file"`
		Headers       map[string]string `json:"headers"`
		Body          string            `json:"body"`
	} `json:"wxpay_v3_response_verification"`
	WxpayV3AEAD struct {
		Cases []struct {
			APIV3Key       string `json:"api_v3_key"`
			Nonce          string `json:"nonce"`
			AssociatedData string `json:"associated_data"`
			Plaintext      string `json:"plaintext"`
			Ciphertext     string `json:"ciphertext"`
		} `json:"cases"`
	} `json:"wxpay_v3_aead_aes_256_gcm"`
}

var (
	ntVectorsOnce sync.Once
	ntVectorsDir  string
	ntVectors     notifyVectors
	ntVectorsErr  error
)

func loadVectors(tb testing.TB) (*notifyVectors, string) {
	tb.Helper()
	ntVectorsOnce.Do(func() {
		var err error
		if ntVectorsDir, err = vectors.Dir(); err != nil {
			ntVectorsErr = err
			return
		}
		b, err := os.ReadFile(filepath.Join(ntVectorsDir, "vectors.json"))
		if err != nil {
			ntVectorsErr = err
			return
		}
		ntVectorsErr = json.Unmarshal(b, &ntVectors)
	})
	if ntVectorsErr != nil {
		tb.Fatalf("published ntVectors (shared/ntVectors beside the repository, or UNICLOUD_VECTORS): %v", ntVectorsErr)
	}
	return &ntVectors, ntVectorsDir
}

func ntReadVectorFile(tb testing.TB, name string) string {
	tb.Helper()
	_, dir := loadVectors(tb)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var (
	ntTestKeyOnce sync.Once
	ntTestKey     *rsa.PrivateKey
)

// ntPlatformKey is WeChat Pay's published test private key, standing in for a
// platform key in tests (it signs notifications; its public half verifies).
func ntPlatformKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	ntTestKeyOnce.Do(func() {
		k, err := signing.ParseRSAPrivateKey(ntReadVectorFile(tb, "keys/wxpay_official_test_key.pem"))
		if err != nil {
			tb.Fatal(err)
		}
		ntTestKey = k
	})
	return ntTestKey
}

const (
	ntTestAppID    = "wxd678efh567hg6787"
	ntTestMchID    = "1230000109"
	ntTestV2Key    = "192006250b4c09247ec02edce69f6a2d"
	ntTestAPIv3Key = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
	ntTestSerial   = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
)

// ntV2XML writes params as a flat <xml> document, values in CDATA (as WeChat
// Pay sends them), keys in sorted order.
func ntV2XML(params map[string]string) []byte {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range keys {
		b.WriteString("<" + k + "><![CDATA[" + params[k] + "]]></" + k + ">")
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

func ntSignedV2(tb testing.TB, params map[string]string, key, signType string) []byte {
	tb.Helper()
	s, err := signing.WxpayV2Sign(params, key, signType)
	if err != nil {
		tb.Fatal(err)
	}
	p := make(map[string]string, len(params)+1)
	for k, v := range params {
		p[k] = v
	}
	p["sign"] = s
	return ntV2XML(p)
}

func ntV2PaymentParams() map[string]string {
	return map[string]string{
		"appid":          ntTestAppID,
		"mch_id":         ntTestMchID,
		"bank_type":      "CFT",
		"cash_fee":       "1",
		"fee_type":       "CNY",
		"is_subscribe":   "Y",
		"nonce_str":      "5d2b6c2a8db53831f7eda20af46e531c",
		"openid":         "oUpF8uMEb4qRXf22hE3X68TekukE",
		"out_trade_no":   "1409811653",
		"result_code":    "SUCCESS",
		"return_code":    "SUCCESS",
		"time_end":       "20140903131540",
		"total_fee":      "1",
		"trade_type":     "JSAPI",
		"transaction_id": "1004400740201409030005092168",
		"attach":         "支付测试 <&>",
	}
}

// ntV3Notification builds the exact bytes and headers WeChat Pay sends for an
// APIv3 notification.
type ntV3Notification struct {
	EventType string
	Resource  any // marshalled to JSON, then encrypted
	Plain     []byte
	APIv3Key  string
	Serial    string
	Key       *rsa.PrivateKey
	Time      time.Time
	Nonce     string
}

func (n ntV3Notification) build(tb testing.TB) (http.Header, []byte) {
	tb.Helper()
	plain := n.Plain
	if plain == nil {
		var err error
		plain, err = json.Marshal(n.Resource)
		if err != nil {
			tb.Fatal(err)
		}
	}
	key := n.APIv3Key
	if key == "" {
		key = ntTestAPIv3Key
	}
	original := "transaction"
	if strings.HasPrefix(n.EventType, "REFUND.") {
		original = "refund"
	}
	ct, err := signing.EncryptAEADAES256GCM(key, original, "fdasflkja484", plain)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id":            "EV-2018022511223320873",
		"create_time":   "2015-05-20T13:29:35+08:00",
		"resource_type": "encrypt-resource",
		"event_type":    n.EventType,
		"summary":       "支付成功",
		"resource": map[string]string{
			"original_type":   original,
			"algorithm":       "AEAD_AES_256_GCM",
			"ciphertext":      ct,
			"associated_data": original,
			"nonce":           "fdasflkja484",
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n.sign(tb, body), body
}

func (n ntV3Notification) sign(tb testing.TB, body []byte) http.Header {
	tb.Helper()
	at := n.Time
	if at.IsZero() {
		at = time.Now()
	}
	nonce := n.Nonce
	if nonce == "" {
		nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	pk := n.Key
	if pk == nil {
		pk = ntPlatformKey(tb)
	}
	sig, err := signing.RSASHA256Sign(pk, signing.WxpayV3VerifyMessage(ts, nonce, body))
	if err != nil {
		tb.Fatal(err)
	}
	serial := n.Serial
	if serial == "" {
		serial = ntTestSerial
	}
	h := http.Header{}
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	h.Set("Content-Type", "application/json")
	return h
}

func ntV3Transaction() map[string]any {
	return map[string]any{
		"transaction_id":   "1217752501201407033233368018",
		"amount":           map[string]any{"payer_total": 90, "total": 100, "currency": "CNY", "payer_currency": "CNY"},
		"mchid":            ntTestMchID,
		"trade_state":      "SUCCESS",
		"bank_type":        "CMC",
		"success_time":     "2018-06-08T10:34:56+08:00",
		"payer":            map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"out_trade_no":     "1217752501201407033233368018",
		"appid":            ntTestAppID,
		"trade_state_desc": "支付成功",
		"trade_type":       "JSAPI",
		"attach":           "自定义数据",
		"promotion_detail": []any{map[string]any{"coupon_id": "109519", "amount": 10}},
	}
}

func ntV3Refund() map[string]any {
	return map[string]any{
		"mchid":                 ntTestMchID,
		"transaction_id":        "1008450740201411110005820873",
		"out_trade_no":          "20150806125346",
		"refund_id":             "50200207182018070300011301001",
		"out_refund_no":         "7752501201407033233368018",
		"refund_status":         "SUCCESS",
		"success_time":          "2018-06-08T10:34:56+08:00",
		"user_received_account": "招商银行信用卡0403",
		"amount":                map[string]any{"total": 999, "refund": 888, "payer_total": 990, "payer_refund": 880},
	}
}

// ntV3Verifier is a verifier for the test merchant with the test platform key.
func ntV3Verifier(tb testing.TB) *wxpay.NotifyVerifier {
	return &wxpay.NotifyVerifier{
		AppID:        ntTestAppID,
		MchID:        ntTestMchID,
		Key:          ntTestV2Key,
		APIv3Key:     ntTestAPIv3Key,
		PlatformKeys: wxpay.StaticPlatformKeys{ntTestSerial: &ntPlatformKey(tb).PublicKey},
	}
}

func ntCheckOf(err error) string {
	if ne, ok := err.(interface{ NotifyCheck() string }); ok {
		return ne.NotifyCheck()
	}
	if err == nil {
		return ""
	}
	return "not a NotifyError: " + err.Error()
}

var ntBg = context.Background()
