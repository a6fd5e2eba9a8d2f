package emulator

import (
	"encoding/json"
	"strconv"
)

// Withdrawals and the goods catalog: create_withdraw_order, query_withdraw_order, start_upload_goods,
// query_upload_goods, start_publish_goods, query_publish_goods. The handlers run with x.mu held.

// xpayWithdraw is a withdrawal of the merchant's income.
type xpayWithdraw struct {
	wxNo    string
	amount  int64 // fen
	created int64
}

// xpayGoods is an app's goods catalog in one env.
type xpayGoods struct {
	uploaded  []map[string]any
	published []map[string]any
}

// xpayIncome is what a withdrawal of everything takes: the emulator's merchant always has 1000.00 yuan.
const xpayIncome = 100000

func (x *xpay) createWithdrawOrder(c *xpayCall) {
	if !c.required("withdraw_no") {
		return
	}
	amount := int64(xpayIncome)
	if v, present := c.body["withdraw_amount"]; present {
		// WeChat takes the amount in yuan, as a string: "0.01".
		s, isStr := v.(string)
		fen, ok := parseYuan(s)
		if !isStr || !ok || fen < 1 {
			c.fail(xpayBadField, "withdraw_amount must be a yuan amount as a string, such as \"0.01\"")
			return
		}
		amount = fen
	}
	k := c.key("withdraw", c.str("withdraw_no"))
	if _, dup := x.withdraws[k]; dup {
		c.fail(xpayDuplicate, "重复操作: withdraw_no was used")
		return
	}
	w := &xpayWithdraw{wxNo: x.nextID("wxw"), amount: amount, created: x.s.now().Unix()}
	if len(x.withdraws) < maxXpayOrders {
		x.withdraws[k] = w
	}
	c.ok(map[string]any{"withdraw_no": c.str("withdraw_no"), "wx_withdraw_no": w.wxNo})
}

func (x *xpay) queryWithdrawOrder(c *xpayCall) {
	if !c.required("withdraw_no") {
		return
	}
	w := x.withdraws[c.key("withdraw", c.str("withdraw_no"))]
	if w == nil {
		c.fail(xpayBadField, "提现单不存在")
		return
	}
	c.ok(map[string]any{
		"withdraw_no": c.str("withdraw_no"), "wx_withdraw_no": w.wxNo, "status": 2, // 2: 提现成功
		"withdraw_amount": yuan(w.amount), "withdraw_success_timestamp": w.created, "create_time": w.created,
		"fail_reason": "",
	})
}

// catalog is the app's goods in this env; x.mu is held.
func (x *xpay) catalog(c *xpayCall) *xpayGoods {
	g := x.goods[c.key()]
	if g == nil {
		g = &xpayGoods{}
		x.goods[c.key()] = g
	}
	return g
}

// items reads a list of objects with an id; nil, and the call answered, when it is not one.
func (c *xpayCall) items(field string) []map[string]any {
	list, ok := c.body[field].([]any)
	if !ok || len(list) == 0 || len(list) > 500 {
		c.fail(xpayBadField, field+" must be a list of 1 to 500 items")
		return nil
	}
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		it, ok := v.(map[string]any)
		if !ok || str(it, "id") == "" {
			c.fail(xpayBadField, field+": every item needs an id")
			return nil
		}
		out = append(out, it)
	}
	return out
}

func (x *xpay) startUploadGoods(c *xpayCall) {
	items := c.items("upload_item")
	if items == nil {
		return
	}
	for _, it := range items {
		if !isInteger(it["price"]) || str(it, "name") == "" || str(it, "item_url") == "" {
			c.fail(xpayBadField, "upload_item: every item needs a name, an item_url and an integer price in fen")
			return
		}
	}
	g := x.catalog(c)
	g.uploaded = nil
	for _, it := range items {
		row := map[string]any{"upload_status": 2, "errmsg": ""} // 2: 上传成功
		for k, v := range it {
			row[k] = v
		}
		g.uploaded = append(g.uploaded, row)
	}
	c.ok(nil)
}

// isInteger reports whether v is a non-negative JSON integer (not a string: WeChat types it).
func isInteger(v any) bool {
	n, ok := v.(json.Number)
	i, err := strconv.ParseInt(string(n), 10, 64)
	return ok && err == nil && i >= 0
}

func (x *xpay) queryUploadGoods(c *xpayCall) {
	g := x.catalog(c)
	c.ok(map[string]any{"upload_item": nonNil(g.uploaded), "status": 2}) // 2: 任务完成
}

func (x *xpay) startPublishGoods(c *xpayCall) {
	items := c.items("publish_item")
	if items == nil {
		return
	}
	g := x.catalog(c)
	g.published = nil
	for _, it := range items {
		status := 3 // 3: 发布失败 (not uploaded)
		for _, up := range g.uploaded {
			if str(up, "id") == str(it, "id") {
				status = 2 // 2: 发布成功
			}
		}
		g.published = append(g.published, map[string]any{"id": str(it, "id"), "publish_status": status, "errmsg": ""})
	}
	c.ok(nil)
}

func (x *xpay) queryPublishGoods(c *xpayCall) {
	g := x.catalog(c)
	c.ok(map[string]any{"publish_item": nonNil(g.published), "status": 2})
}

func nonNil(items []map[string]any) []map[string]any {
	if items == nil {
		return []map[string]any{}
	}
	return items
}
