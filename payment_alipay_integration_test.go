package unicloud

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
	"github.com/caddy-unicloud/unicloud/signing"
)

func TestPaymentAlipay(t *testing.T) {
	t.Setenv("UNICLOUD_PAY_TEST_KEY", payWxKey)
	_, ali, wxURL, aliURL := payStartFakes(t)
	addr := freeAddr(t)
	loadCaddy(t, payCaddyfile(t, addr, wxURL, aliURL, ""))
	base := "http://" + addr + "/pay/alipay/"
	var tradeNo string // a-1's

	t.Run("getOrderInfo mp-alipay", func(t *testing.T) {
		status, m := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"订单标题","outTradeNo":"a-1","totalFee":101,"clientType":"mp-alipay","timeoutExpress":"90m"}`)
		info, _ := m["orderInfo"].(map[string]any)
		tradeNo, _ = info["tradeNo"].(string)
		if status != 200 || num(m["errCode"]) != 0 || len(tradeNo) < 16 {
			t.Fatalf("%d %v", status, m)
		}
		form := ali.lastForm(alipay.MethodTradeCreate)
		var biz map[string]any
		json.Unmarshal([]byte(form.Get("biz_content")), &biz)
		if biz["total_amount"] != "1.01" || biz["buyer_id"] != "2088102146225135" || biz["subject"] != "订单标题" ||
			biz["out_trade_no"] != "a-1" || biz["timeout_express"] != "90m" || biz["total_fee"] != nil || biz["client_type"] != nil {
			t.Errorf("biz_content %v", biz)
		}
		if form.Get("notify_url") != "http://127.0.0.1:1/notify/alipay" || form.Get("app_id") != payAliAppID {
			t.Errorf("request %v", form)
		}
		_, m = payPost(t, base+"getOrderInfo", `{"openid":"074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5","subject":"s","outTradeNo":"a-2","totalFee":10}`)
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeCreate).Get("biz_content")), &biz)
		if biz["buyer_open_id"] != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || biz["total_amount"] != "0.10" {
			t.Errorf("open_id payer: %v %v", m, biz)
		}
	})
	t.Run("getOrderInfo app-plus", func(t *testing.T) {
		creates := len(ali.rec.Requests("/gateway.do"))
		status, m := payPost(t, base+"getOrderInfo", `{"subject":"大乐透","outTradeNo":"a-3","totalFee":123456,"clientType":"app-plus","notifyUrl":"https://example.com/n"}`)
		s, _ := m["orderInfo"].(string)
		q, err := url.ParseQuery(s)
		if status != 200 || err != nil || q.Get("method") != alipay.MethodTradeAppPay || q.Get("notify_url") != "https://example.com/n" {
			t.Fatalf("%d %v", status, m)
		}
		params := map[string]string{}
		for k := range q {
			params[k] = q.Get(k)
		}
		if err := signing.AlipayVerify(&payKeys.app.PublicKey, []byte(signing.AlipaySignContent(params, true)), params["sign"], "RSA2"); err != nil {
			t.Errorf("order string signature: %v", err)
		}
		var biz map[string]any
		json.Unmarshal([]byte(params["biz_content"]), &biz)
		if biz["total_amount"] != "1234.56" || biz["product_code"] != "QUICK_MSECURITY_PAY" {
			t.Errorf("biz_content %v", biz)
		}
		if len(ali.rec.Requests("/gateway.do")) != creates {
			t.Error("app.pay went over the network")
		}
	})
	t.Run("getOrderInfo business failure", func(t *testing.T) {
		ali.pay(t, "a-2")
		status, m := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"s","outTradeNo":"a-2","totalFee":10}`)
		if status != 200 || m["errCode"] != "ACQ.TRADE_HAS_SUCCESS" || m["errMsg"] != "交易已被支付" {
			t.Errorf("%d %v", status, m)
		}
	})
	t.Run("orderQuery", func(t *testing.T) {
		status, m := payPost(t, base+"orderQuery", `{"outTradeNo":"a-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["tradeState"] != "USERPAYING" || num(m["totalFee"]) != 101 || m["transactionId"] != tradeNo {
			t.Errorf("unpaid: %d %v", status, m)
		}
		ali.pay(t, "a-1")
		status, m = payPost(t, base+"orderQuery", `{"outTradeNo":"a-1"}`)
		if status != 200 || num(m["errCode"]) != 0 || m["tradeState"] != "SUCCESS" || num(m["totalFee"]) != 101 ||
			num(m["cashFee"]) != 101 || m["transactionId"] != tradeNo || m["outTradeNo"] != "a-1" || num(m["buyerPayAmount"]) != 101 {
			t.Errorf("paid: %d %v", status, m)
		}
		status, m = payPost(t, base+"orderQuery", `{"transactionId":"`+tradeNo+`"}`)
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeQuery).Get("biz_content")), &biz)
		if status != 200 || m["outTradeNo"] != "a-1" || biz["trade_no"] != tradeNo || biz["out_trade_no"] != nil {
			t.Errorf("by trade_no: %d %v %v", status, m, biz)
		}
		status, m = payPost(t, base+"orderQuery", `{"outTradeNo":"missing"}`)
		if status != 200 || m["errCode"] != "ACQ.TRADE_NOT_EXIST" || m["errMsg"] != "交易不存在" {
			t.Errorf("missing order: %d %v", status, m)
		}
	})
	t.Run("closeOrder and cancelOrder", func(t *testing.T) {
		for i, call := range []string{"closeOrder", "cancelOrder"} {
			otn := fmt.Sprintf("a-c%d", i)
			_, placed := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"s","outTradeNo":"`+otn+`","totalFee":5}`)
			info, _ := placed["orderInfo"].(map[string]any)
			status, m := payPost(t, base+call, `{"outTradeNo":"`+otn+`"}`)
			if status != 200 || num(m["errCode"]) != 0 || m["transactionId"] != info["tradeNo"] || m["outTradeNo"] != otn {
				t.Errorf("%s: %d %v", call, status, m)
			}
			if _, q := payPost(t, base+"orderQuery", `{"outTradeNo":"`+otn+`"}`); q["tradeState"] != "CLOSED" {
				t.Errorf("after %s: %v", call, q)
			}
		}
		_, placed := payPost(t, base+"getOrderInfo", `{"openid":"2088102146225135","subject":"s","outTradeNo":"a-c2","totalFee":5}`)
		info, _ := placed["orderInfo"].(map[string]any)
		no, _ := info["tradeNo"].(string)
		status, m := payPost(t, base+"closeOrder", `{"transactionId":"`+no+`"}`)
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeClose).Get("biz_content")), &biz)
		if status != 200 || num(m["errCode"]) != 0 || biz["trade_no"] != no || biz["out_trade_no"] != nil {
			t.Errorf("close by trade_no: %d %v %v", status, m, biz)
		}
	})
	t.Run("refund", func(t *testing.T) {
		status, m := payPost(t, base+"refund", `{"outTradeNo":"a-1","outRefundNo":"ar-1","refundFee":100,"refundDesc":"用户退款"}`)
		if status != 200 || num(m["errCode"]) != 0 || num(m["refundFee"]) != 100 || num(m["cashRefundFee"]) != 100 || m["outRefundNo"] != "ar-1" {
			t.Errorf("%d %v", status, m)
		}
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeRefund).Get("biz_content")), &biz)
		if biz["refund_amount"] != "1.00" || biz["out_request_no"] != "ar-1" || biz["refund_reason"] != "用户退款" || biz["refund_fee"] != nil {
			t.Errorf("biz_content %v", biz)
		} // totalFee is optional for Alipay, but an amount like any other.
		for _, bad := range []string{`5.5`, `"abc"`, `-3`, `50`} {
			status, m := payPost(t, base+"refund", `{"outTradeNo":"a-1","outRefundNo":"ar-2","refundFee":100,"totalFee":`+bad+`}`)
			if status != 400 || m["errCode"] != "UNICLOUD_BAD_REQUEST" || !strings.Contains(fmt.Sprint(m["errMsg"]), "totalFee") {
				t.Errorf("totalFee %s: %d %v", bad, status, m)
			}
		}
		// More than is left: Alipay's refusal.
		status, m = payPost(t, base+"refund", `{"outTradeNo":"a-1","outRefundNo":"ar-3","refundFee":2}`)
		if status != 200 || m["errCode"] != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
			t.Errorf("over the total: %d %v", status, m)
		}
	})
	t.Run("refundQuery", func(t *testing.T) {
		status, m := payPost(t, base+"refundQuery", `{"outTradeNo":"a-1","outRefundNo":"ar-1"}`)
		if status != 200 || num(m["totalFee"]) != 101 || num(m["refundFee"]) != 100 || m["outRefundNo"] != "ar-1" || m["refundDesc"] != "用户退款" {
			t.Errorf("%d %v", status, m)
		}
		// A refund made without outRefundNo is named by the order's number.
		if status, m := payPost(t, base+"refund", `{"outTradeNo":"a-1","refundFee":1}`); status != 200 || num(m["errCode"]) != 0 {
			t.Fatalf("refund without outRefundNo: %d %v", status, m)
		}
		status, m = payPost(t, base+"refundQuery", `{"outTradeNo":"a-1"}`)
		var biz map[string]any
		json.Unmarshal([]byte(ali.lastForm(alipay.MethodTradeRefundQuery).Get("biz_content")), &biz)
		if status != 200 || num(m["refundFee"]) != 1 || m["outRefundNo"] != "a-1" || biz["out_request_no"] != "a-1" {
			t.Errorf("by the order's number: %d %v %v", status, m, biz)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			call, body string
			status     int
			code       string
		}{
			{"downloadBill", `{"billDate":"20141110"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"downloadFundflow", `{"billDate":"20141110"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":1,"clientType":"mp-weixin"}`, 400, "UNICLOUD_NOT_SUPPORTED"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":0.01,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalAmount":"0.01","totalFee":1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"outTradeNo":"o","totalFee":1,"clientType":"app-plus"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"getOrderInfo", `{"subject":"s","outTradeNo":"o","totalFee":1,"clientType":"mp-alipay"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"refund", `{"outTradeNo":"o"}`, 400, "UNICLOUD_BAD_REQUEST"},
			{"orderQuery", `{"outTradeNo":`, 400, "UNICLOUD_BAD_REQUEST"},
		} {
			status, m := payPost(t, base+tc.call, tc.body)
			if status != tc.status || m["errCode"] != tc.code {
				t.Errorf("%s %s: %d %v, want %d %s", tc.call, tc.body, status, m, tc.status, tc.code)
			}
		}
	})
	t.Run("bad answer signature", func(t *testing.T) {
		ali.tamper.Store(true)
		defer ali.tamper.Store(false)
		for _, call := range []string{"orderQuery", "getOrderInfo"} {
			status, m := payPost(t, base+call, `{"outTradeNo":"a-1","subject":"s","totalFee":1,"openid":"2088102146225135"}`)
			if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" || m["totalFee"] != nil || m["orderInfo"] != nil {
				t.Errorf("%s: %d %v", call, status, m)
			}
		}
	})
}
