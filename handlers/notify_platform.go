package handlers

import (
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// NotifyPlatformKey is one WeChat Pay platform key of a notify or payment
// configuration.
type NotifyPlatformKey struct {
	// Serial is the platform certificate serial number, or the public key
	// ID ("PUB_KEY_ID_…"), as sent in Wechatpay-Serial.
	Serial string `json:"serial,omitempty"`
	// Key is the public key or the platform certificate, PEM or bare
	// base64.
	Key string `json:"key,omitempty"`
}

// NotifyPlatformKeys is the platform key source of a WeChat Pay notify
// provider: its own keys (static), then the shared stores of the merchant
// mchID (configured platform_key entries and platform_certs auto of its
// unicloud_payment handlers), looked up at each notification, so that a
// handler provisioned later, or after a reload, counts. A serial none of
// them knows makes the stores refresh once (each rate-limits itself);
// without any store with platform_certs auto, logger says so at most once
// a minute.
func NotifyPlatformKeys(static wxpay.PlatformKeySet, mchID string, logger *zap.Logger) wxpay.PlatformKeySource {
	return wxpay.DefaultMerchants.NotifyKeys(static, mchID, func() {
		logger.Warn("APIv3 notification refused: no platform key can verify it; configure platform_key in this handler, "+
			"or platform_certs auto in a unicloud_payment wxpay handler of the same mch_id",
			zap.String("mch_id", mchID))
	})
}
