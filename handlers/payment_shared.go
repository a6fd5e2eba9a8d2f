package handlers

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// The helpers the payment host and its provider modules share.

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
