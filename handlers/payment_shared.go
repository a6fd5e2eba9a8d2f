package handlers

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
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
func CAPool(pemOrPath string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return appendPEMCerts(pool, pemOrPath)
}

// appendPEMCerts adds the certificates of pemOrPath (PEM text, or the path
// of a PEM file) to pool; finding none is an error.
func appendPEMCerts(pool *x509.CertPool, pemOrPath string) (*x509.CertPool, error) {
	data := []byte(pemOrPath)
	if !strings.Contains(pemOrPath, "-----BEGIN") {
		b, err := os.ReadFile(pemOrPath)
		if err != nil {
			return nil, errors.New("cannot read " + pemOrPath)
		}
		data = b
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// ParseAppKey reads an Alipay application private key
// (alipay.ParsePrivateKey). Both PKCS#8 and PKCS#1 are read whatever
// keyType says (a mismatch is only logged: the key itself says what it is).
func ParseAppKey(pemOrBase64, keyType string, logger *zap.Logger) (*rsa.PrivateKey, error) {
	key, form, err := alipay.ParsePrivateKey(pemOrBase64)
	if err != nil {
		return nil, err
	}
	if form != "" && form != keyType && logger != nil {
		logger.Info("the Alipay private key is not in the form key_type names; it is read anyway",
			zap.String("key_type", keyType), zap.String("found", form))
	}
	return key, nil
}

// WriteAnswer answers a call's answer object (200, JSON).
func WriteAnswer(w http.ResponseWriter, out map[string]any) {
	body, err := json.Marshal(out)
	if err != nil {
		WriteError(w, http.StatusBadGateway, ErrUpstream, "answer could not be encoded")
		return
	}
	WriteJSON(w, http.StatusOK, body)
}
