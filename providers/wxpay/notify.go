// Package wxpay is a WeChat Pay client library (v2 and APIv3): payment
// calls, and verification of the payment and refund notifications.
package wxpay

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-unicloud/unicloud/providers/payevent"
)

// Checks a notification can fail, as named in logs and metrics.
const (
	// CheckMalformed: not a notification this verifier can read (bad XML or
	// JSON, DOCTYPE/entities, missing or unreadable fields).
	CheckMalformed = "malformed"
	// CheckUnsupported: a readable, authentic notification of a kind the
	// verifier does not handle (an APIv3 event type other than TRANSACTION.*
	// and REFUND.*).
	CheckUnsupported = "unsupported"
	// CheckSignature: sign / Wechatpay-Signature missing or wrong, or the
	// version of the notification is not configured.
	CheckSignature = "signature"
	// CheckSerial: an APIv3 notification signed with a platform key whose
	// Wechatpay-Serial is not known (even after one refresh).
	CheckSerial = "serial"
	// CheckDecrypt: v2 refund req_info or an APIv3 resource does not
	// decrypt with the configured key.
	CheckDecrypt = "decrypt"
	// CheckMerchant: appid or mch_id differs from the configured one.
	CheckMerchant = "merchant"
	// CheckFreshness: Wechatpay-Timestamp is further than MaxSkew from now.
	CheckFreshness = "freshness"
)

// Notification versions and kinds.
const (
	NotifyV2 = "v2"
	NotifyV3 = "v3"

	NotifyPaymentKind = payevent.KindPayment
	NotifyRefundKind  = payevent.KindRefund
)

// NotifyError is a refused notification (see payevent.Refusal).
type NotifyError = payevent.Refusal

func refuse(check, format string, args ...any) *NotifyError {
	return payevent.Refuse("wxpay", check, format, args...)
}

// NotifyPayment is a verified payment notification, normalised.
type NotifyPayment = payevent.Payment

// NotifyRefund is a verified refund notification, normalised.
type NotifyRefund = payevent.Refund

// Notification is a notification that passed every check.
type Notification struct {
	Version string // NotifyV2 or NotifyV3
	Kind    string // NotifyPaymentKind or NotifyRefundKind
	// Event is *NotifyPayment or *NotifyRefund.
	Event any
}

// NotifyVerifier checks WeChat Pay notifications (v2 payment and refund,
// APIv3 TRANSACTION.* and REFUND.*) and normalises them. The zero value
// refuses everything; set Key for v2, APIv3Key and PlatformKeys for v3.
// A v2 refund notification is confirmed with WeChat Pay's refund query at
// Endpoint before it is accepted.
// It is safe for concurrent use once configured.
type NotifyVerifier struct {
	// AppID and MchID, when set, must match the notification's appid and
	// mch_id / mchid (APIv3 refunds carry no appid: not checked there).
	AppID string
	MchID string
	// Key is the APIv2 key: v2 sign check, refund req_info decryption and
	// the signature of the refund query that confirms a v2 refund.
	Key string
	// Endpoint is the WeChat Pay API host a v2 refund notification is
	// confirmed at (/pay/refundquery; default DefaultEndpoint).
	Endpoint string
	// HTTP sends the refund query (default: a client with a 10 s timeout
	// that follows no redirect). It should follow no redirect either.
	HTTP *http.Client
	// APIv3Key decrypts APIv3 resources (32 bytes).
	APIv3Key string
	// PlatformKeys finds the key a Wechatpay-Serial names.
	PlatformKeys PlatformKeySource
	// MaxSkew is how far Wechatpay-Timestamp may be from now, either way
	// (default 5 minutes).
	MaxSkew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultNotifyMaxSkew is the default NotifyVerifier.MaxSkew.
const DefaultNotifyMaxSkew = 5 * time.Minute

// DetectNotifyVersion tells a v3 notification (Wechatpay-Signature header,
// or a JSON body) from a v2 one (anything else, expected to be XML). It
// only chooses the parser and the answer form; it proves nothing.
func DetectNotifyVersion(header http.Header, body []byte) string {
	if header.Get("Wechatpay-Signature") != "" || header.Get("Wechatpay-Serial") != "" {
		return NotifyV3
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '{' {
		return NotifyV3
	}
	return NotifyV2
}

// Verify checks a notification given its request headers and the exact
// bytes of its body, and returns it normalised, or a *NotifyError.
func (v *NotifyVerifier) Verify(ctx context.Context, header http.Header, body []byte) (*Notification, error) {
	if DetectNotifyVersion(header, body) == NotifyV3 {
		return v.VerifyV3(ctx, header, body)
	}
	return v.VerifyV2(ctx, body)
}

func (v *NotifyVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *NotifyVerifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultNotifyMaxSkew
}

// checkMerchant compares the configured identity with the notification's.
// An empty got with a configured want is a mismatch.
func checkMerchant(field, want, got string) error {
	if want == "" || want == got {
		return nil
	}
	if got == "" {
		return refuse(CheckMerchant, "%s is absent", field)
	}
	return refuse(CheckMerchant, "%s %q is not the configured one", field, shortID(got))
}

// chinaTime is UTC+8, the zone of every WeChat Pay and Alipay time (China
// has no daylight saving time; a fixed zone needs no tzdata).
var chinaTime = time.FixedZone("CST", 8*3600)

// timeEndLayout is WeChat Pay's time_end: yyyyMMddHHmmss.
const timeEndLayout = "20060102150405"

// parseFen reads a WeChat Pay amount: a non-negative integer number of fen,
// digits only.
func parseFen(field, s string) (int64, error) {
	if s == "" {
		return 0, refuse(CheckMalformed, "%s is absent", field)
	}
	if len(s) > 18 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, refuse(CheckMalformed, "%s is not an amount in fen", field)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, refuse(CheckMalformed, "%s is not an amount in fen", field)
	}
	return n, nil
}

// parseOptionalFen is parseFen with "" meaning 0.
func parseOptionalFen(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return parseFen(field, s)
}

// shortID quotes an identifier taken from a notification for an error.
func shortID(s string) string { return payevent.Short(s, 40) }
