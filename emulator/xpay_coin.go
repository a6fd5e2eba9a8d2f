package emulator

// The coin (代币) calls: query_user_balance, currency_pay, cancel_currency_pay, present_currency. They run with
// x.mu held.

// xpayBalance is a user's coins in one app and env.
type xpayBalance struct {
	balance, present             int64 // coins, of which presented
	sumSave, sumPresent, sumCost int64
	firstSave                    bool // never bought coins
}

// xpayCoinPay is a currency_pay (kind pay), present_currency (present) or cancel_currency_pay (cancel) order.
type xpayCoinPay struct {
	kind        string
	openid      string
	amount      int64
	usedPresent int64
	cancelled   int64 // pay orders: coins given back by cancel_currency_pay
}

// balance is openid's account; x.mu is held.
func (x *xpay) balance(c *xpayCall, openid string) *xpayBalance {
	k := c.key(openid)
	b := x.balances[k]
	if b == nil {
		b = &xpayBalance{firstSave: true}
		if len(x.balances) < maxXpayOrders {
			x.balances[k] = b
		}
	}
	return b
}

func (b *xpayBalance) fields() map[string]any {
	return map[string]any{
		"balance": b.balance, "present_balance": b.present, "sum_save": b.sumSave, "sum_present": b.sumPresent,
		"sum_balance": b.sumSave + b.sumPresent, "sum_cost": b.sumCost, "first_save_flag": b.firstSave,
	}
}

func (x *xpay) queryUserBalance(c *xpayCall) {
	if !c.required("user_ip") {
		return
	}
	c.ok(x.balance(c, c.str("openid")).fields())
}

// newCoinOrder checks that order_id is new; false (and the call answered) when not.
func (x *xpay) newCoinOrder(c *xpayCall) (string, bool) {
	id := c.str("order_id")
	if id == "" {
		c.fail(xpayBadField, "order_id is required")
		return "", false
	}
	if _, dup := x.coinPays[c.key(id)]; dup {
		c.fail(xpayDuplicate, "重复操作: order_id "+id+" was used")
		return "", false
	}
	if len(x.coinPays) >= maxXpayOrders {
		c.fail(-1, "system error: the emulator keeps at most 100000 coin orders")
		return "", false
	}
	return id, true
}

func (x *xpay) currencyPay(c *xpayCall) {
	if !c.required("user_ip") {
		return
	}
	amount, ok := c.integer("amount", true)
	if !ok {
		return
	}
	id, ok := x.newCoinOrder(c)
	if !ok {
		return
	}
	b := x.balance(c, c.str("openid"))
	if amount < 1 || amount > b.balance {
		c.fail(xpayNotEnough, "代币的退款/支付操作金额不足")
		return
	}
	used := min(amount, b.present)
	b.balance -= amount
	b.present -= used
	b.sumCost += amount
	x.coinPays[c.key(id)] = &xpayCoinPay{kind: "pay", openid: c.str("openid"), amount: amount, usedPresent: used}
	c.ok(map[string]any{"order_id": id, "balance": b.balance, "used_present_amount": used})
}

func (x *xpay) cancelCurrencyPay(c *xpayCall) {
	if !c.required("user_ip", "pay_order_id") {
		return
	}
	amount, ok := c.integer("amount", true)
	if !ok {
		return
	}
	pay := x.coinPays[c.key(c.str("pay_order_id"))]
	if pay == nil || pay.kind != "pay" || pay.openid != c.str("openid") {
		c.fail(xpayBadField, "pay_order_id is not a currency_pay order of this openid")
		return
	}
	if pay.cancelled >= pay.amount {
		c.fail(xpayCancelled, "订单已经通过cancel_currency_pay接口退款")
		return
	}
	if amount < 1 || amount > pay.amount-pay.cancelled {
		c.fail(xpayNotEnough, "代币的退款/支付操作金额不足")
		return
	}
	id, ok := x.newCoinOrder(c)
	if !ok {
		return
	}
	pay.cancelled += amount
	b := x.balance(c, pay.openid)
	b.balance += amount
	b.sumCost -= amount
	x.coinPays[c.key(id)] = &xpayCoinPay{kind: "cancel", openid: pay.openid, amount: amount}
	c.ok(map[string]any{"order_id": id})
}

func (x *xpay) presentCurrency(c *xpayCall) {
	openid := c.str("openid")
	if openid == "" {
		c.fail(xpayBadOpenID, "openid错误")
		return
	}
	amount, ok := c.integer("amount", true)
	if !ok {
		return
	}
	if amount < 1 {
		c.fail(xpayBadField, "amount must be at least 1")
		return
	}
	id, ok := x.newCoinOrder(c)
	if !ok {
		return
	}
	b := x.balance(c, openid)
	b.balance += amount
	b.present += amount
	b.sumPresent += amount
	x.coinPays[c.key(id)] = &xpayCoinPay{kind: "present", openid: openid, amount: amount}
	c.ok(map[string]any{"balance": b.balance, "order_id": id, "present_balance": b.present})
}
