package handlers

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// PlatformStoreConfig is what a WeChat Pay handler brings to the platform
// key store of its merchant (AcquirePlatformStore). Strings have their
// placeholders replaced already.
type PlatformStoreConfig struct {
	// Endpoint is the API host (default wxpay.DefaultEndpoint).
	Endpoint string
	// MchID is the merchant id. Required.
	MchID string
	// Keys are the configured platform keys (platform_key): serial or
	// PUB_KEY_ID_… → public key or platform certificate, PEM or bare base64.
	Keys map[string]string
	// Auto is platform_certs auto: download /v3/certificates at first use
	// and every 12 h. It needs SerialNo, PrivateKey and APIv3Key.
	Auto bool
	// SerialNo is the merchant API certificate serial (serial_no).
	SerialNo string
	// PrivateKey is the merchant API private key.
	PrivateKey *rsa.PrivateKey
	// APIv3Key decrypts the downloaded certificates.
	APIv3Key string
	// Root is platform_root: a PEM CA certificate (or the path of a PEM
	// file) every downloaded certificate must chain to. Optional.
	Root string
	// MaxSkew is how old the download answer's Wechatpay-Timestamp may be
	// (default 5m).
	MaxSkew time.Duration
	// HTTP makes the downloads (default: a client with a 10s timeout).
	HTTP *http.Client
}

// platformDownloads counts platform certificate downloads by result, and
// certificates taken from the shared storage (shared).
var platformDownloads = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "unicloud", Name: "wxpay_platform_cert_downloads_total",
	Help: "WeChat Pay platform certificate downloads by result (ok, error), and certificates taken from the shared storage (shared).",
}, []string{"result"})

// AcquirePlatformStore takes the platform key store of cfg's merchant from
// the process's merchant registry (wxpay.DefaultMerchants, making it on
// first use) and registers cfg's keys, download credentials and the
// config's storage in it. Every unicloud_payment handler of a merchant,
// across config reloads, uses the same store, and unicloud_payment_notify
// handlers look it up by mch_id. The returned function gives the
// registration and the reference back: call it in Cleanup. It makes no
// network call.
func AcquirePlatformStore(ctx caddy.Context, cfg PlatformStoreConfig) (*wxpay.PlatformStore, func(), error) {
	if cfg.MchID == "" {
		return nil, nil, errors.New("platform keys: mch_id is required")
	}
	reg, err := platformRegistration(cfg)
	if err != nil {
		return nil, nil, err
	}
	logger := ctx.Logger().With(zap.String("mch_id", cfg.MchID))
	RegisterCollectors(ctx.GetMetricsRegistry(), platformDownloads)
	store, release := wxpay.DefaultMerchants.Acquire(cfg.Endpoint, cfg.MchID, func(st *wxpay.PlatformStore) {
		st.Events = platformEvents(logger)
	})
	if st := ContextStorage(ctx); st != nil {
		reg.Storage = st
	}
	unregister, err := store.Register(reg)
	if err != nil {
		release()
		return nil, nil, err
	}
	for _, k := range reg.Keys {
		if !k.NotAfter.IsZero() && time.Now().After(k.NotAfter) {
			logger.Warn("configured platform certificate has expired: it verifies nothing",
				zap.String("serial", k.Serial), zap.Time("not_after", k.NotAfter))
		}
	}
	var once sync.Once
	return store, func() {
		once.Do(func() {
			unregister()
			release()
		})
	}, nil
}

// lookupPlatformStore finds the live store of a merchant, without taking a
// reference.
func lookupPlatformStore(endpoint, mchID string) (*wxpay.PlatformStore, bool) {
	return wxpay.DefaultMerchants.Lookup(endpoint, mchID)
}

// platformStoresOf lists the live stores of a merchant at every endpoint,
// in a stable order. The slice is shared: do not modify it.
func platformStoresOf(mchID string) []*wxpay.PlatformStore {
	return wxpay.DefaultMerchants.Stores(mchID)
}

func platformRegistration(cfg PlatformStoreConfig) (wxpay.PlatformRegistration, error) {
	var reg wxpay.PlatformRegistration
	serials := make([]string, 0, len(cfg.Keys))
	for s := range cfg.Keys {
		serials = append(serials, s)
	}
	sort.Strings(serials)
	for _, serial := range serials {
		k, err := wxpay.ParsePlatformKey(serial, cfg.Keys[serial])
		if err != nil {
			return reg, fmt.Errorf("platform_key: %w", err)
		}
		reg.Keys = append(reg.Keys, k)
	}
	if !cfg.Auto {
		if cfg.Root != "" {
			return reg, errors.New("platform_root needs platform_certs auto")
		}
		return reg, nil
	}
	auto := &wxpay.PlatformAuto{
		SerialNo:   cfg.SerialNo,
		PrivateKey: cfg.PrivateKey,
		APIv3Key:   cfg.APIv3Key,
		HTTP:       cfg.HTTP,
		MaxSkew:    cfg.MaxSkew,
	}
	if cfg.Root != "" {
		pool, err := platformRootPool(cfg.Root)
		if err != nil {
			return reg, fmt.Errorf("platform_root: %w", err)
		}
		auto.Root = pool
	}
	reg.Auto = auto
	return reg, nil
}

// platformRootPool reads platform_root: PEM text or the path of a PEM file,
// one or more CA certificates (and nothing else: not the system roots).
func platformRootPool(pemOrPath string) (*x509.CertPool, error) {
	return appendPEMCerts(x509.NewCertPool(), pemOrPath)
}

func platformEvents(logger *zap.Logger) wxpay.PlatformEvents {
	return wxpay.PlatformEvents{
		Download: func(result string, err error) {
			platformDownloads.WithLabelValues(result).Inc()
			if err != nil {
				logger.Error("WeChat Pay platform certificate download failed", zap.Error(err))
				return
			}
			logger.Info("WeChat Pay platform certificates downloaded")
		},
		Shared: func() {
			platformDownloads.WithLabelValues("shared").Inc()
			logger.Debug("WeChat Pay platform certificates taken from the shared storage")
		},
		StorageFailed: func(err error) {
			logger.Warn("WeChat Pay platform certificates not written to the shared storage: other instances download on their own", zap.Error(err))
		},
		Dropped: func(serial, reason string) {
			logger.Warn("WeChat Pay platform certificate not kept", zap.String("serial", serial), zap.String("reason", reason))
		},
	}
}
