package xpay

import (
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/caddy-unicloud/unicloud/providers/pay"
)

// The modes of wx.requestVirtualPayment.
const (
	// ModeGoods is 道具直购: one product at its price.
	ModeGoods = "short_series_goods"
	// ModeCoin is 代币充值: buyQuantity coins.
	ModeCoin = "short_series_coin"
)

// MaxOutTradeNo is WeChat's bound on outTradeNo.
const MaxOutTradeNo = 32

// OrderInfo is what the mini-program spreads into wx.requestVirtualPayment.
type OrderInfo struct {
	Mode      string `json:"mode"`
	SignData  string `json:"signData"`
	PaySig    string `json:"paySig"`
	Signature string `json:"signature"`
}

// Order is a getOrderInfo request, validated.
type Order struct {
	Mode         string
	OutTradeNo   string
	ProductID    string // goods only
	GoodsPrice   int64  // fen, goods only
	BuyQuantity  int64
	CurrencyType string
	Attach       string
}

// ParseOrder reads and checks getOrderInfo's parameters (openid aside).
func ParseOrder(p pay.Params) (*Order, error) {
	o := &Order{}
	var err error
	if o.OutTradeNo, err = p.Required("outTradeNo"); err != nil {
		return nil, err
	}
	if !validOutTradeNo(o.OutTradeNo) {
		return nil, pay.BadRequest("outTradeNo must be at most 32 characters of 0-9 A-Z a-z _ - | * @")
	}
	if o.Mode, err = p.Str("mode"); err != nil {
		return nil, err
	}
	switch o.Mode {
	case "":
		o.Mode = ModeGoods
	case ModeGoods, ModeCoin:
	default:
		return nil, pay.BadRequest("mode must be short_series_goods or short_series_coin")
	}
	if o.Mode == ModeGoods {
		if o.ProductID, err = p.Required("productId"); err != nil {
			return nil, err
		}
		if o.GoodsPrice, err = positive(p, "goodsPrice", true, 0); err != nil {
			return nil, err
		}
		if o.BuyQuantity, err = positive(p, "buyQuantity", false, 1); err != nil {
			return nil, err
		}
	} else if o.BuyQuantity, err = positive(p, "buyQuantity", true, 0); err != nil {
		return nil, err
	}
	if o.CurrencyType, err = p.Str("currencyType"); err != nil {
		return nil, err
	}
	if o.CurrencyType == "" {
		o.CurrencyType = "CNY"
	}
	if o.Attach, err = p.Str("attach"); err != nil {
		return nil, err
	}
	return o, nil
}

// positive reads an integer ≥ 1 (a JSON integer or a string of digits); def when absent and not required.
func positive(p pay.Params, name string, required bool, def int64) (int64, error) {
	v, ok := p[name]
	if !ok || v == nil {
		if required {
			return 0, pay.Missing(name)
		}
		return def, nil
	}
	n, err := pay.ParseFen(v)
	if err != nil {
		return 0, pay.AmountError(name, "an integer of at least 1", err)
	}
	if n < 1 {
		return 0, pay.BadRequest("parameter must be an integer of at least 1: " + name)
	}
	return n, nil
}

func validOutTradeNo(s string) bool {
	if s == "" || len(s) > MaxOutTradeNo {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case c == '_', c == '-', c == '|', c == '*', c == '@':
		default:
			return false
		}
	}
	return true
}

// SignData is the order's signData for offerID in env: compact JSON, UTF-8 unescaped, keys in WeChat's published
// example order (goods: offerId, buyQuantity, env, currencyType, productId, goodsPrice, outTradeNo, attach; coin
// without productId and goodsPrice), attach omitted when empty.
func (o *Order) SignData(offerID string, env Env) string {
	b := make([]byte, 0, 192)
	b = append(b, `{"offerId":`...)
	b = appendString(b, offerID)
	b = append(b, `,"buyQuantity":`...)
	b = strconv.AppendInt(b, o.BuyQuantity, 10)
	b = append(b, `,"env":`...)
	b = strconv.AppendInt(b, int64(env), 10)
	b = append(b, `,"currencyType":`...)
	b = appendString(b, o.CurrencyType)
	if o.Mode == ModeGoods {
		b = append(b, `,"productId":`...)
		b = appendString(b, o.ProductID)
		b = append(b, `,"goodsPrice":`...)
		b = strconv.AppendInt(b, o.GoodsPrice, 10)
	}
	b = append(b, `,"outTradeNo":`...)
	b = appendString(b, o.OutTradeNo)
	if o.Attach != "" {
		b = append(b, `,"attach":`...)
		b = appendString(b, o.Attach)
	}
	return string(append(b, '}'))
}

// appendString appends s as a JSON string with only what JSON requires
// escaped (the quote, the backslash, control characters): UTF-8 is kept
// as is, U+2028 and U+2029 too, and <, >, & are not escaped. Invalid
// UTF-8 becomes U+FFFD, as encoding/json writes it.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Sign makes the OrderInfo of signData with appKey and sessionKey.
func Sign(mode, signData, appKey, sessionKey string) *OrderInfo {
	return &OrderInfo{
		Mode:      mode,
		SignData:  signData,
		PaySig:    PaySig(appKey, ClientURI, []byte(signData)),
		Signature: Signature(sessionKey, []byte(signData)),
	}
}

// GetOrderInfo is computed locally, with no WeChat request: the parameters are checked, the session key of openid
// found, and the answer is {orderInfo: {mode, signData, paySig, signature}}.
func (c *Client) GetOrderInfo(ctx context.Context, p pay.Params) (pay.Answer, error) {
	openid, err := p.Required("openid")
	if err != nil {
		return nil, err
	}
	o, err := ParseOrder(p)
	if err != nil {
		return nil, err
	}
	sk, err := c.sessionKey(ctx, openid)
	if err != nil {
		return nil, err
	}
	return pay.Answer{"orderInfo": Sign(o.Mode, o.SignData(c.OfferID, c.Env), c.Key(), sk)}, nil
}
