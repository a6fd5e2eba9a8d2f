// Package pay is the payment API every payment provider speaks, free of
// Caddy: the calls of uni-pay (getOrderInfo … downloadFundflow) with their
// requests and answers in camelCase and integer fen, and one error type for
// every provider.
package pay

import "context"

// Provider is a payment provider: each call takes the caller's request and
// returns the answer the caller gets (camelCase members, amounts in integer
// fen), or an error — a *BusinessError when the provider refused the
// call, an *Error for the gateway's own refusals and upstream failures.
// A call the provider has no equivalent for returns an *Error of kind
// ErrNotSupported.
type Provider interface {
	// GetOrderInfo places an order and returns, in orderInfo, what the
	// client's uni.requestPayment needs.
	GetOrderInfo(ctx context.Context, req *OrderRequest) (Answer, error)
	// OrderQuery looks an order up.
	OrderQuery(ctx context.Context, req *OrderQueryRequest) (Answer, error)
	// CloseOrder closes an unpaid order.
	CloseOrder(ctx context.Context, req *CloseOrderRequest) (Answer, error)
	// CancelOrder cancels an order (closes it, or refunds it when paid).
	CancelOrder(ctx context.Context, req *CancelOrderRequest) (Answer, error)
	// Refund refunds (part of) a paid order.
	Refund(ctx context.Context, req *RefundRequest) (Answer, error)
	// RefundQuery looks a refund up.
	RefundQuery(ctx context.Context, req *RefundQueryRequest) (Answer, error)
	// DownloadBill returns the trade bill of a day, in content.
	DownloadBill(ctx context.Context, req *BillRequest) (Answer, error)
	// DownloadFundflow returns the fund flow bill of a day, in content.
	DownloadFundflow(ctx context.Context, req *FundflowRequest) (Answer, error)
}

// OrderRequest is getOrderInfo's: body or subject, outTradeNo, totalFee
// (fen), clientType (or the X-Unicloud-Client-Type header), openid,
// notifyUrl… Its members differ most between providers (and virtual
// payment has its own): each provider reads them from Params through the
// checked accessors, and passes the others on, as uni-pay does.
type OrderRequest struct{ Params }

// The other calls' requests carry the members the calls share, typed and
// checked once (New…Request: ids are strings, amounts integer fen), and
// the caller's parameters as given (Params: camelCase names, numbers as
// json.Number) for the members a provider passes on. A provider checks
// which of the typed members its dialect requires.
type (
	// OrderQueryRequest is orderQuery's: transactionId or outTradeNo.
	OrderQueryRequest struct {
		OrderRef
		ClientType string // the appid's client type (several appids per merchant)
		Params
	}
	// CloseOrderRequest is closeOrder's: outTradeNo.
	CloseOrderRequest struct {
		OrderRef
		ClientType string
		Params
	}
	// CancelOrderRequest is cancelOrder's: transactionId or outTradeNo.
	CancelOrderRequest struct {
		OrderRef
		ClientType string
		Params
	}
	// RefundRequest is refund's: transactionId or outTradeNo,
	// outRefundNo, totalFee and refundFee (fen).
	RefundRequest struct {
		OrderRef
		ClientType  string
		OutRefundNo string // outRefundNo: the merchant's refund number
		TotalFee    Amount // totalFee: the order's total
		RefundFee   Amount // refundFee: the amount refunded
		Params
	}
	// RefundQueryRequest is refundQuery's: outRefundNo (or refundId, or
	// the order's ids, where the provider finds refunds by them).
	RefundQueryRequest struct {
		OrderRef
		ClientType  string
		OutRefundNo string
		RefundID    string // refundId: the provider's refund id
		Params
	}
	// BillRequest is downloadBill's: billDate yyyyMMdd, billType.
	BillRequest struct {
		ClientType string
		BillDate   string
		BillType   string
		Params
	}
	// FundflowRequest is downloadFundflow's: billDate yyyyMMdd,
	// accountType.
	FundflowRequest struct {
		ClientType  string
		BillDate    string
		AccountType string
		Params
	}
)

// Answer is a call's answer: camelCase members, amounts in integer fen.
// The gateway adds errCode 0 and errMsg "ok".
type Answer map[string]any
