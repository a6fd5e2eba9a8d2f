package xpay

// API is one server call: the caller's name, WeChat's path and how the request is made. Adding a call is adding a
// row.
type API struct {
	// Name is the caller's call name (the last path segment).
	Name string
	// Path is WeChat's path.
	Path string
	// UserSignature: the request carries the user-state signature (signature=…) made with the openid's session key,
	// as well as pay_sig.
	UserSignature bool
	// Required lists the caller's parameters that must be present (camelCase); a "a|b" entry needs one of them.
	Required []string
	// Renames maps a caller's parameter to WeChat's field where the names differ (outTradeNo → order_id).
	Renames map[string]string
	// Amounts lists the integer parameters (fen, coins, dates): a JSON integer or a string of digits, sent as a
	// JSON integer. Positive lists those that must also be at least 1.
	Amounts, Positive []string
	// Yuan lists the fen parameters WeChat takes as yuan strings (withdrawAmount: 1 → "0.01").
	Yuan []string
	// AnswerYuan lists the answer's yuan-string fields (camelCase) given back in fen.
	AnswerYuan []string
	// BillDate: billDate (yyyyMMdd) stands for beginDs and endDs.
	BillDate bool
}

// renameOrder maps the uniCloud order ids to WeChat's.
var renameOrder = map[string]string{"outTradeNo": "order_id", "transactionId": "wx_order_id"}

// APIs are the server calls, by caller name (aliases included).
var APIs = map[string]*API{}

// Unsupported are the calls of the unified payment API that virtual payment has no equivalent for.
var Unsupported = map[string]bool{"closeOrder": true, "cancelOrder": true, "refundQuery": true, "downloadFundflow": true}

var apiRows = []*API{
	{Name: "queryUserBalance", Path: "/xpay/query_user_balance", UserSignature: true,
		Required: []string{"openid"}},
	{Name: "currencyPay", Path: "/xpay/currency_pay", UserSignature: true,
		Required: []string{"openid", "orderId", "amount"}, Amounts: []string{"amount"}, Positive: []string{"amount"}},
	{Name: "cancelCurrencyPay", Path: "/xpay/cancel_currency_pay", UserSignature: true,
		Required: []string{"openid", "payOrderId", "orderId", "amount"}, Amounts: []string{"amount"},
		Positive: []string{"amount"}},
	{Name: "presentCurrency", Path: "/xpay/present_currency",
		Required: []string{"openid", "orderId", "amount"}, Amounts: []string{"amount"}, Positive: []string{"amount"}},
	{Name: "orderQuery", Path: "/xpay/query_order",
		Required: []string{"outTradeNo|transactionId|orderId|wxOrderId"}, Renames: renameOrder},
	{Name: "notifyProvideGoods", Path: "/xpay/notify_provide_goods",
		Required: []string{"outTradeNo|transactionId|orderId|wxOrderId"}, Renames: renameOrder},
	{Name: "refund", Path: "/xpay/refund_order",
		Required: []string{"openid", "outTradeNo|transactionId|orderId|wxOrderId", "outRefundNo|refundOrderId",
			"leftFee", "refundFee"},
		Renames: map[string]string{"outTradeNo": "order_id", "transactionId": "wx_order_id",
			"outRefundNo": "refund_order_id"},
		Amounts: []string{"leftFee", "refundFee"}, Positive: []string{"leftFee", "refundFee"}},
	{Name: "downloadBill", Path: "/xpay/download_bill",
		Required: []string{"beginDs|billDate", "endDs|billDate"}, Amounts: []string{"beginDs", "endDs"},
		BillDate: true},
	{Name: "createWithdrawOrder", Path: "/xpay/create_withdraw_order",
		Required: []string{"withdrawNo"}, Yuan: []string{"withdrawAmount"}},
	{Name: "queryWithdrawOrder", Path: "/xpay/query_withdraw_order",
		Required: []string{"withdrawNo"}, AnswerYuan: []string{"withdrawAmount"}},
	{Name: "startUploadGoods", Path: "/xpay/start_upload_goods", Required: []string{"uploadItem"}},
	{Name: "queryUploadGoods", Path: "/xpay/query_upload_goods"},
	{Name: "startPublishGoods", Path: "/xpay/start_publish_goods", Required: []string{"publishItem"}},
	{Name: "queryPublishGoods", Path: "/xpay/query_publish_goods"},
}

// aliases are other names of a call (uni-pay's and WeChat's own).
var aliases = map[string]string{"queryOrder": "orderQuery", "refundOrder": "refund"}

func init() {
	for _, a := range apiRows {
		APIs[a.Name] = a
	}
	for alias, name := range aliases {
		APIs[alias] = APIs[name]
	}
}
