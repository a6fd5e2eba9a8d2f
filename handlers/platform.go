package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-unicloud/unicloud/providers/wxpay"
)

// PlatformStoreConfig is what a WeChat Pay handler brings to the platform
// key store of its merchant (acquirePlatformStore). Strings have their
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

// platformShared is one merchant's store in the process-wide pool, with
// the context of its background refresh.
type platformShared struct {
	key    string
	store  *wxpay.PlatformStore
	cancel context.CancelFunc
}

// Destruct stops the background refresh (the last handler of the merchant
// is gone).
func (p *platformShared) Destruct() error {
	p.cancel()
	removePlatformStore(p)
	return nil
}

// platformPool holds one store per (endpoint, mch_id) across config
// reloads; platformStores indexes the live ones for notify handlers, which
// look them up at request time without taking a reference.
var (
	platformPool = caddy.NewUsagePool()

	platformMu     sync.Mutex
	platformStores = map[string]*platformShared{} // key → store, under platformMu
	// platformByMerchant is mch_id → its stores (every endpoint), rebuilt
	// when a store comes or goes: the lookup of every notification.
	platformByMerchant atomic.Pointer[map[string][]*wxpay.PlatformStore]
)

func addPlatformStore(sh *platformShared) {
	platformMu.Lock()
	defer platformMu.Unlock()
	platformStores[sh.key] = sh
	indexPlatformStoresLocked()
}

func removePlatformStore(sh *platformShared) {
	platformMu.Lock()
	defer platformMu.Unlock()
	if platformStores[sh.key] == sh {
		delete(platformStores, sh.key)
		indexPlatformStoresLocked()
	}
}

func indexPlatformStoresLocked() {
	keys := make([]string, 0, len(platformStores))
	for k := range platformStores {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := make(map[string][]*wxpay.PlatformStore)
	for _, k := range keys {
		st := platformStores[k].store
		m[st.MchID()] = append(m[st.MchID()], st)
	}
	platformByMerchant.Store(&m)
}

// platformDownloads counts platform certificate downloads by result, and
// certificates taken from the shared storage (shared).
var platformDownloads = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "unicloud", Name: "wxpay_platform_cert_downloads_total",
	Help: "WeChat Pay platform certificate downloads by result (ok, error), and certificates taken from the shared storage (shared).",
}, []string{"result"})

func normalizeWxpayEndpoint(endpoint string) string {
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	if endpoint == "" {
		return wxpay.DefaultEndpoint
	}
	return endpoint
}

func platformPoolKey(endpoint, mchID string) string {
	return "unicloud.wxpay.platform\x00" + normalizeWxpayEndpoint(endpoint) + "\x00" + mchID
}

// acquirePlatformStore takes the platform key store of cfg's merchant from
// the process-wide pool (making it on first use) and registers cfg's keys
// and download credentials in it. Every unicloud_payment and
// unicloud_payment_notify handler of a merchant, across config reloads,
// uses the same store. The returned function gives the registration and the
// pool reference back: call it in Cleanup. It makes no network call.
func acquirePlatformStore(ctx caddy.Context, cfg PlatformStoreConfig) (*wxpay.PlatformStore, func(), error) {
	if cfg.MchID == "" {
		return nil, nil, errors.New("platform keys: mch_id is required")
	}
	reg, err := platformRegistration(cfg)
	if err != nil {
		return nil, nil, err
	}
	endpoint := normalizeWxpayEndpoint(cfg.Endpoint)
	key := platformPoolKey(endpoint, cfg.MchID)
	logger := ctx.Logger().With(zap.String("mch_id", cfg.MchID))
	registerCollectors(ctx.GetMetricsRegistry(), platformDownloads)
	val, _, err := platformPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		store := wxpay.NewPlatformStore(endpoint, cfg.MchID)
		store.Events = platformEvents(logger)
		// The store outlives the config that made it (reloads): its
		// background refresh stops when the last handler gives it back.
		bg, cancel := context.WithCancel(context.Background())
		sh := &platformShared{key: key, store: store, cancel: cancel}
		store.Start(bg)
		addPlatformStore(sh)
		return sh, nil
	})
	if err != nil {
		return nil, nil, err
	}
	sh := val.(*platformShared)
	if st := contextStorage(ctx); st != nil {
		reg.Storage = st
	}
	unregister, err := sh.store.Register(reg)
	if err != nil {
		_, _ = platformPool.Delete(key)
		return nil, nil, err
	}
	for _, k := range reg.Keys {
		if !k.NotAfter.IsZero() && time.Now().After(k.NotAfter) {
			logger.Warn("configured platform certificate has expired: it verifies nothing",
				zap.String("serial", k.Serial), zap.Time("not_after", k.NotAfter))
		}
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			unregister()
			_, _ = platformPool.Delete(key)
		})
	}
	return sh.store, release, nil
}

// lookupPlatformStore finds the live store of a merchant, without taking a
// reference: for notify handlers, at request time.
func lookupPlatformStore(endpoint, mchID string) (*wxpay.PlatformStore, bool) {
	platformMu.Lock()
	defer platformMu.Unlock()
	sh, ok := platformStores[platformPoolKey(endpoint, mchID)]
	if !ok {
		return nil, false
	}
	return sh.store, true
}

// platformStoresOf lists the live stores of a merchant at every endpoint,
// in a stable order. The slice is shared: do not modify it.
func platformStoresOf(mchID string) []*wxpay.PlatformStore {
	if m := platformByMerchant.Load(); m != nil {
		return (*m)[mchID]
	}
	return nil
}

// notifyPlatformKeys is the key source of a unicloud_payment_notify
// handler: its own platform_key entries, then the shared stores of its
// merchant (mch_id), looked up at each notification so that a
// unicloud_payment handler provisioned later, or after a reload, counts.
type notifyPlatformKeys struct {
	static   wxpay.PlatformKeySet
	mchID    string
	logger   *zap.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last "no keys" warning
}

// PlatformKey implements wxpay.PlatformKeySource.
func (k *notifyPlatformKeys) PlatformKey(serial string) (*rsa.PublicKey, bool) {
	if len(k.static) > 0 {
		if pub, ok := k.static.PlatformKey(serial); ok {
			return pub, true
		}
	}
	for _, st := range platformStoresOf(k.mchID) {
		if pub, ok := st.PlatformKey(serial); ok {
			return pub, true
		}
	}
	return nil, false
}

// RefreshPlatformKeys implements wxpay.PlatformKeyRefresher: each store of
// the merchant refreshes (each rate-limits itself). Without any store with
// platform_certs auto, it says so in the log, at most once a minute.
func (k *notifyPlatformKeys) RefreshPlatformKeys(ctx context.Context) error {
	stores := platformStoresOf(k.mchID)
	var firstErr error
	auto := false
	for _, st := range stores {
		err := st.RefreshPlatformKeys(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, wxpay.ErrPlatformNoAuto) {
			auto = true
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if !auto && len(k.static) == 0 {
		now := time.Now().UnixNano()
		last := k.lastWarn.Load()
		if now-last > int64(time.Minute) && k.lastWarn.CompareAndSwap(last, now) {
			k.logger.Warn("APIv3 notification refused: no platform key can verify it; configure platform_key in this handler, "+
				"or platform_certs auto in a unicloud_payment wxpay handler of the same mch_id",
				zap.String("mch_id", k.mchID))
		}
	}
	if firstErr == nil {
		firstErr = wxpay.ErrPlatformNoAuto
	}
	return firstErr
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
