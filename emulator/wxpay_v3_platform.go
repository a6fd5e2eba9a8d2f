package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"time"

	"github.com/caddy-unicloud/unicloud/signing"
)

// wxv3Root makes the emulator's stand-in for WeChat Pay's platform CA
// once.
func (x *wxpayV3Emu) wxv3Root() {
	x.once.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		now := x.s.now()
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "unicloud emulator WeChat Pay platform CA", Organization: []string{"caddy-unicloud emulator"}},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(20, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		x.root, _ = x509.ParseCertificate(der)
		x.rkey = key
	})
}

// newPlatformCert makes a platform certificate for mchID, issued by the
// emulator's CA, valid for five years as WeChat Pay's are.
func (x *wxpayV3Emu) newPlatformCert(mchID string) (*wxv3Cert, error) {
	x.wxv3Root()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	sn.SetBit(sn, 158, 1) // 40 hex digits, as WeChat Pay's serials
	now := x.s.now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject: pkix.Name{CommonName: "Tenpay.com sign", Organization: []string{"Tenpay.com"},
			OrganizationalUnit: []string{"Tenpay.com CA Center"}, Country: []string{"CN"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(5, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, x.root, &key.PublicKey, x.rkey)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &wxv3Cert{
		wxv3Key: wxv3Key{serial: signing.CertificateSerialNo(c), key: key},
		cert:    c,
		pem:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}, nil
}

// newPublicKey makes a public-key mode key with a PUB_KEY_ID_… id.
func newPublicKey(mchID string, now time.Time) (*wxv3Key, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &wxv3Key{serial: "PUB_KEY_ID_01" + mchID + now.In(notifyChinaTime).Format("2006010215") + notifyDigits(6), key: key}, nil
}

// ensureCert gives a merchant its first platform certificate. Call with
// x.mu held.
func (x *wxpayV3Emu) ensureCert(m *wxv3Merchant) error {
	if len(m.certs) > 0 {
		return nil
	}
	c, err := x.newPlatformCert(m.cfg.MchID)
	if err != nil {
		return err
	}
	m.certs = append(m.certs, c)
	return nil
}

// certificates answers GET /v3/certificates: every platform certificate
// of the merchant, encrypted with its APIv3 key, the answer signed with
// the newest certificate (whatever the signing mode of other answers).
func (x *wxpayV3Emu) certificates(c *wxv3Call) {
	if !c.method(http.MethodGet) {
		return
	}
	x.mu.Lock()
	err := x.ensureCert(c.m)
	certs := append([]*wxv3Cert(nil), c.m.certs...)
	x.mu.Unlock()
	if err != nil {
		c.fail(http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	data := make([]map[string]any, 0, len(certs))
	for _, ct := range certs {
		nonce := signing.NonceStr()[:12]
		enc, err := signing.EncryptAEADAES256GCM(c.m.cfg.APIv3Key, "certificate", nonce, []byte(ct.pem))
		if err != nil {
			c.fail(http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
			return
		}
		data = append(data, map[string]any{
			"serial_no":      ct.serial,
			"effective_time": ct.cert.NotBefore.In(notifyChinaTime).Format(time.RFC3339),
			"expire_time":    ct.cert.NotAfter.In(notifyChinaTime).Format(time.RFC3339),
			"encrypt_certificate": map[string]string{
				"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate", "ciphertext": enc,
			},
		})
	}
	body, _ := json.Marshal(map[string]any{"data": data})
	if err := signV3Answer(c.w.Header(), &certs[len(certs)-1].wxv3Key, x.s.now(), body); err != nil {
		c.fail(http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")
		return
	}
	c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(body)
}

// WxpayV3Platform is what the platform hook tells about a merchant's
// platform keys.
type WxpayV3Platform struct {
	MchID string `json:"mchid"`
	// Mode is certificate or public_key: which key signs answers.
	Mode string `json:"mode"`
	// Serial is the Wechatpay-Serial of the answers signed now.
	Serial       string                `json:"serial"`
	Certificates []WxpayV3PlatformCert `json:"certificates"`
	// PublicKey is the public-key mode key, when there is one.
	PublicKey *WxpayV3PlatformPubKey `json:"public_key,omitempty"`
	// Root is the CA certificate that issued the platform certificates the
	// emulator made (for platform_root); a configured PlatformCertificate
	// was issued by its own CA.
	Root string `json:"root"`
}

// WxpayV3PlatformCert is one platform certificate.
type WxpayV3PlatformCert struct {
	SerialNo string `json:"serial_no"`
	PEM      string `json:"pem"`
}

// WxpayV3PlatformPubKey is a public-key mode key.
type WxpayV3PlatformPubKey struct {
	ID  string `json:"id"`
	PEM string `json:"pem"`
}

// WxpayV3Platform returns a merchant's platform keys (public halves).
func (s *Server) WxpayV3Platform(mchID string) (*WxpayV3Platform, error) {
	x := s.wxpayV3()
	m := x.merchants[mchID]
	if m == nil || m.err != nil {
		return nil, ErrNoSuchMerchant
	}
	k, err := x.signer(m)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensureCert(m); err != nil {
		return nil, err
	}
	x.wxv3Root() // made with the first certificate the emulator makes, or here
	p := &WxpayV3Platform{MchID: mchID, Mode: m.mode, Serial: k.serial,
		Root: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.root.Raw}))}
	for _, c := range m.certs {
		p.Certificates = append(p.Certificates, WxpayV3PlatformCert{SerialNo: c.serial, PEM: c.pem})
	}
	if m.pub != nil {
		der, _ := x509.MarshalPKIXPublicKey(&m.pub.key.PublicKey)
		p.PublicKey = &WxpayV3PlatformPubKey{ID: m.pub.serial, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	}
	return p, nil
}

// ErrNoSuchMerchant: the hook names no configured APIv3 merchant.
var ErrNoSuchMerchant = errors.New("emulator: no such APIv3 merchant")

// RotateWxpayV3 switches a merchant to a new platform key: a new platform
// certificate (mode certificate; the previous ones stay listed by
// /v3/certificates, as during WeChat Pay's overlap) or a new public key
// (mode public_key). mode "" keeps the current mode. Answers and
// notifications are signed with the new key from now on.
//
// Also POST /_emulator/wxpay/v3/rotate?mchid=…[&mode=…].
func (s *Server) RotateWxpayV3(mchID, mode string) (*WxpayV3Platform, error) {
	x := s.wxpayV3()
	m := x.merchants[mchID]
	if m == nil || m.err != nil {
		return nil, ErrNoSuchMerchant
	}
	x.mu.Lock()
	if mode == "" {
		mode = m.mode
	}
	var err error
	switch mode {
	case wxv3ModeCertificate:
		var c *wxv3Cert
		if c, err = x.newPlatformCert(mchID); err == nil {
			m.certs = append(m.certs, c)
		}
	case wxv3ModePublicKey:
		var k *wxv3Key
		if k, err = newPublicKey(mchID, s.now()); err == nil {
			m.pub = k
		}
	default:
		err = errors.New("emulator: mode is certificate or public_key")
	}
	if err == nil {
		m.mode = mode
	}
	x.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.WxpayV3Platform(mchID)
}

func (x *wxpayV3Emu) platformHook(w http.ResponseWriter, r *http.Request) {
	p, err := x.s.WxpayV3Platform(r.URL.Query().Get("mchid"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, errBody(-1, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (x *wxpayV3Emu) rotateHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, errBody(-1, "POST"))
		return
	}
	q := r.URL.Query()
	p, err := x.s.RotateWxpayV3(q.Get("mchid"), q.Get("mode"))
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNoSuchMerchant) {
			status = http.StatusNotFound
		}
		writeJSON(w, status, errBody(-1, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, p)
}
