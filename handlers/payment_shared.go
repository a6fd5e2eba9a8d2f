package handlers

import (
	"crypto/x509"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// The helpers the payment host and its provider modules share with the
// handlers of this package.

// CheckV2Key checks a WeChat Pay APIv2 key: the 32 characters set in the
// merchant platform. Its value is never quoted.
func CheckV2Key(name, key string) error { return checkV2Key(name, key) }

// CheckAPIv3Key checks a WeChat Pay APIv3 key: 32 bytes, the AES-256-GCM
// key. Its value is never quoted.
func CheckAPIv3Key(name, key string) error { return checkAPIv3Key(name, key) }

// WarnPublicListen logs once, at load, that directive (a handler whoever
// reaches can misuse: it refunds) is served beyond loopback and private
// networks.
func WarnPublicListen(logger *zap.Logger, directive string, listen []string) {
	warnPublicListen(logger, directive, listen)
}

// AcquirePlatformStore takes the WeChat Pay platform key store of a
// merchant (shared by the merchant's handlers and, with cfg.Auto, kept up
// to date through Caddy's storage); the returned function gives it back.
func AcquirePlatformStore(ctx caddy.Context, cfg PlatformStoreConfig) (*wxpay.PlatformStore, func(), error) {
	return acquirePlatformStore(ctx, cfg)
}

// CAPool is the system roots plus the PEM certificates of pemOrPath (PEM
// text, or the path of a PEM file).
func CAPool(pemOrPath string) (*x509.CertPool, error) { return caPool(pemOrPath) }
