package xpay

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

type vectors struct {
	PaySig []struct {
		AppKey string `json:"app_key"`
		URI    string `json:"uri"`
		Body   string `json:"body"`
		PaySig string `json:"pay_sig"`
	} `json:"pay_sig"`
	Signature []struct {
		SessionKey string `json:"session_key"`
		Body       string `json:"body"`
		Signature  string `json:"signature"`
	} `json:"signature"`
	RequestVirtualPayment []struct {
		OfferID      string `json:"offer_id"`
		Env          Env    `json:"env"`
		Mode         string `json:"mode"`
		ProductID    string `json:"product_id"`
		GoodsPrice   int64  `json:"goods_price"`
		BuyQuantity  int64  `json:"buy_quantity"`
		CurrencyType string `json:"currency_type"`
		OutTradeNo   string `json:"out_trade_no"`
		Attach       string `json:"attach"`
		AppKey       string `json:"app_key"`
		SessionKey   string `json:"session_key"`
		SignData     string `json:"sign_data"`
		PaySig       string `json:"pay_sig"`
		Signature    string `json:"signature"`
	} `json:"request_virtual_payment"`
}

func loadVectors(t testing.TB) *vectors {
	raw, err := os.ReadFile("../../testdata/xpay/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.PaySig) == 0 || len(v.Signature) < 2 || len(v.RequestVirtualPayment) == 0 {
		t.Fatal("vectors missing")
	}
	return &v
}

func TestPublishedPaySig(t *testing.T) {
	for _, v := range loadVectors(t).PaySig {
		if got := PaySig(v.AppKey, v.URI, []byte(v.Body)); got != v.PaySig {
			t.Errorf("PaySig(%q, %q) = %s, want %s", v.AppKey, v.URI, got, v.PaySig)
		}
	}
}

func TestPublishedSignature(t *testing.T) {
	for _, v := range loadVectors(t).Signature {
		if got := Signature(v.SessionKey, []byte(v.Body)); got != v.Signature {
			t.Errorf("Signature(%q) = %s, want %s", v.Body, got, v.Signature)
		}
	}
}

type keys map[string]string

func (k keys) Get(_ context.Context, appid, openid string) (string, bool) {
	s, ok := k[appid+"/"+openid]
	return s, ok
}

// TestPublishedRequestVirtualPayment: getOrderInfo with WxJava's inputs gives WxJava's published answer, byte for
// byte.
func TestPublishedRequestVirtualPayment(t *testing.T) {
	for _, v := range loadVectors(t).RequestVirtualPayment {
		c := &Client{
			Config:   Config{AppID: "wxapp", OfferID: v.OfferID, Env: v.Env, AppKey: v.AppKey},
			Sessions: keys{"wxapp/o1": v.SessionKey},
		}
		ans, err := c.GetOrderInfo(context.Background(), pay.Params{
			"openid": "o1", "mode": v.Mode, "productId": v.ProductID,
			"goodsPrice":  json.Number(strconv.FormatInt(v.GoodsPrice, 10)),
			"buyQuantity": json.Number(strconv.FormatInt(v.BuyQuantity, 10)), "currencyType": v.CurrencyType, "outTradeNo": v.OutTradeNo, "attach": v.Attach,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(ans)
		want, _ := json.Marshal(map[string]any{"orderInfo": &OrderInfo{
			Mode: v.Mode, SignData: v.SignData, PaySig: v.PaySig, Signature: v.Signature}})
		if string(got) != string(want) {
			t.Errorf("getOrderInfo = %s\nwant          %s", got, want)
		}
	}
}
