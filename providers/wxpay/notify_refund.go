package wxpay

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
)

// Checks of a v2 refund notification against WeChat Pay's refund query.
const (
	// CheckRefundQuery: the refund query does not know the refund, or
	// answers a field that differs from the decrypted req_info. req_info
	// is AES-ECB without a signature: its 16-byte blocks can be dropped,
	// repeated or swapped by anyone, so only what the (signed) query
	// confirms is trusted.
	CheckRefundQuery = "refund_query"
	// CheckRefundQueryFailed: the refund query could not be made (WeChat
	// Pay unreachable, return_code FAIL, an answer whose sign does not
	// verify). The notification is neither accepted nor refused: WeChat Pay
	// is asked to send it again.
	CheckRefundQueryFailed = "refund_query_failed"
)

// DefaultRefundQueryTimeout bounds the refund query when the verifier's
// HTTP client has no timeout of its own.
const DefaultRefundQueryTimeout = 10 * time.Second

// refundQueryFields pairs each req_info field with the refundquery field
// that tells the same thing: per-refund fields carry the refund's index
// (out_refund_no_$n, refund_fee_$n…), order fields none. The top-level
// refund_fee of a refundquery answer is the order's total refunded, not
// this refund's: refund_fee is compared with refund_fee_$n.
var refundQueryFields = []struct {
	notify, query string
	indexed       bool
}{
	{"out_refund_no", "out_refund_no", true},
	{"refund_id", "refund_id", true},
	{"refund_fee", "refund_fee", true},
	{"settlement_refund_fee", "settlement_refund_fee", true},
	{"refund_status", "refund_status", true},
	{"refund_account", "refund_account", true},
	{"refund_recv_accout", "refund_recv_accout", true},
	{"success_time", "refund_success_time", true},
	{"out_trade_no", "out_trade_no", false},
	{"transaction_id", "transaction_id", false},
	{"total_fee", "total_fee", false},
	{"settlement_total_fee", "settlement_total_fee", false},
}

// refundRequiredFields must be in both the notification and the query
// answer, and equal, for a refund to be forwarded.
var refundRequiredFields = []string{"out_refund_no", "refund_id", "out_trade_no", "transaction_id", "total_fee", "refund_fee", "refund_status"}

// refundQueryHTTP is the client of the refund query when the verifier has
// none: bounded in time, following no redirect.
var refundQueryHTTP = &http.Client{
	Timeout:       DefaultRefundQueryTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// confirmV2Refund asks WeChat Pay's refund query (/pay/refundquery by
// out_refund_no, signed with the APIv2 key, the answer's sign checked)
// about the refund a req_info describes, and returns the fields the query
// confirmed: those both carry with the same value. The query's answer
// is returned too (what the notification lacks is looked up there).
func (v *NotifyVerifier) confirmV2Refund(ctx context.Context, outer, inner map[string]string) (confirmed, answer map[string]string, err error) {
	c := &Client{AppID: v.AppID, MchID: v.MchID, Key: v.Key, Endpoint: v.Endpoint, HTTP: v.HTTP}
	if c.AppID == "" {
		c.AppID = outer["appid"]
	}
	if c.MchID == "" {
		c.MchID = outer["mch_id"]
	}
	if c.MchID == "" {
		return nil, nil, refuse(CheckMalformed, "mch_id is absent: the refund cannot be confirmed")
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	c.Endpoint = strings.TrimRight(c.Endpoint, "/")
	if c.HTTP == nil {
		c.HTTP = refundQueryHTTP
	}
	outRefundNo := inner["out_refund_no"]
	fields, err := c.Call(ctx, APIRefundQuery, map[string]string{"out_refund_no": outRefundNo})
	if err != nil {
		var be *BusinessError
		if errors.As(err, &be) && be.Fields != nil && be.Code == "REFUNDNOTEXIST" {
			// A signed answer: WeChat Pay has no such refund.
			return nil, nil, refuse(CheckRefundQuery, "the refund query does not know out_refund_no %q", shortID(outRefundNo))
		}
		return nil, nil, refuse(CheckRefundQueryFailed, "the refund query could not be made: %s", refundQueryReason(err))
	}
	dropEmpty(fields)

	// The refund's index n: out_refund_no_$n is ours (and refund_id_$n
	// too when several share it, which WeChat Pay does not allow).
	n := ""
	for i := 0; i < maxNotifyXMLFields; i++ {
		s := "_" + strconv.Itoa(i)
		if fields["out_refund_no"+s] != outRefundNo {
			continue
		}
		if n == "" || fields["refund_id"+s] == inner["refund_id"] {
			n = s
		}
	}
	if n == "" {
		return nil, nil, refuse(CheckRefundQuery, "the refund query does not list out_refund_no %q", shortID(outRefundNo))
	}

	confirmed = make(map[string]string, len(refundQueryFields))
	for _, f := range refundQueryFields {
		q := f.query
		if f.indexed {
			q += n
		}
		got, inNotify := inner[f.notify]
		want, inQuery := fields[q]
		switch {
		case inNotify && inQuery && got != want:
			return nil, nil, refuse(CheckRefundQuery, "%s differs from the refund query's %s", f.notify, q)
		case inNotify && inQuery:
			confirmed[f.notify] = got
		}
	}
	for _, f := range refundRequiredFields {
		if _, ok := confirmed[f]; !ok {
			return nil, nil, refuse(CheckRefundQuery, "%s is not confirmed by the refund query", f)
		}
	}
	return confirmed, fields, nil
}

// refundQueryReason says why the query failed, without any key.
func refundQueryReason(err error) string {
	var (
		ue *UpstreamError
		se *SignatureError
		be *BusinessError
	)
	switch {
	case errors.As(err, &ue):
		return ue.Reason
	case errors.As(err, &se):
		return "the answer's sign does not verify with the APIv2 key"
	case errors.As(err, &be):
		return "WeChat Pay answered " + shortID(be.Code) + ": " + shortID(be.Msg)
	}
	return "the request could not be built"
}

// dropEmpty removes the fields with empty values (see payevent.DropEmpty).
func dropEmpty(fields map[string]string) { payevent.DropEmpty(fields) }
