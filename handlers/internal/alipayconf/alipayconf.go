// Package alipayconf holds what the three Alipay guests (unicloud_openapi,
// unicloud_payment and unicloud_payment_notify alipay) share about
// public-key-certificate mode (公钥证书模式): the subdirectives app_cert,
// alipay_cert (repeatable) and alipay_root_cert, their placeholders, the
// rules of a complete configuration and the loading of the certificates.
package alipayconf

import (
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/providers/alipay"
)

// CertFiles is the certificate-mode part of an Alipay guest's
// configuration, embedded in the guest (its JSON fields are the guest's).
type CertFiles struct {
	// AppCert is the application's public-key certificate
	// (appCertPublicKey_….crt, PEM): certificate mode, with AlipayCert and
	// AlipayRootCert in place of alipay_public_key. Its key must be the
	// private_key's.
	AppCert string `json:"app_cert,omitempty"`
	// AlipayCert is Alipay's public-key certificate
	// (alipayCertPublicKey_RSA2.crt, PEM), one or more: during Alipay's
	// rotation the current and the next, each answer verified with the one
	// its alipay_cert_sn names. Each must chain to AlipayRootCert.
	AlipayCert []string `json:"alipay_cert,omitempty"`
	// AlipayRootCert is Alipay's root bundle (alipayRootCert.crt, PEM).
	AlipayRootCert string `json:"alipay_root_cert,omitempty"`
}

// Role is what a guest does with the certificates.
type Role int

const (
	// Caller signs gateway calls and verifies their answers
	// (unicloud_openapi, unicloud_payment): it needs all three files.
	Caller Role = iota
	// Verifier only verifies notifications (unicloud_payment_notify): it
	// needs alipay_cert; alipay_root_cert is taken (the chain is then
	// checked) and app_cert accepted, so one snippet fits every block.
	Verifier
)

// Given tells whether any certificate-mode subdirective is set.
func (c *CertFiles) Given() bool {
	return c.AppCert != "" || len(c.AlipayCert) > 0 || c.AlipayRootCert != ""
}

// Resolve replaces the {file.*} and {env.*} placeholders of the files; the
// error names the subdirective after prefix (the directive).
func (c *CertFiles) Resolve(prefix string) error {
	if err := handlers.ResolveOptions(prefix,
		handlers.Option{Name: "app_cert", Value: &c.AppCert, Key: true},
		handlers.Option{Name: "alipay_root_cert", Value: &c.AlipayRootCert, Key: true},
	); err != nil {
		return err
	}
	for i := range c.AlipayCert {
		if err := handlers.ResolveOptions(prefix, handlers.Option{Name: "alipay_cert", Value: &c.AlipayCert[i], Key: true}); err != nil {
			return err
		}
	}
	return nil
}

// CheckMode refuses a mixed configuration (alipayPublicKey with
// certificates) or an incomplete certificate mode for role. A
// configuration with neither is left to the guest's own check of what is
// required.
func (c *CertFiles) CheckMode(prefix, alipayPublicKey string, role Role) error {
	if !c.Given() {
		return nil
	}
	if alipayPublicKey != "" {
		return errors.New(prefix + ": alipay_public_key and app_cert / alipay_cert / alipay_root_cert exclude each other: give the key (public-key mode) or the certificates (certificate mode)")
	}
	if role == Verifier {
		if len(c.AlipayCert) == 0 {
			return errors.New(prefix + ": certificate mode needs alipay_cert (Alipay's public-key certificate, alipayCertPublicKey_RSA2.crt)")
		}
		return nil
	}
	if c.AppCert == "" || len(c.AlipayCert) == 0 || c.AlipayRootCert == "" {
		return errors.New(prefix + ": certificate mode needs app_cert, alipay_cert and alipay_root_cert")
	}
	return nil
}

// Load parses and checks the certificates (see alipay.LoadCerts): nil when
// no certificate is given. key, for a Caller, is the application private
// key the app certificate must match. Errors name the subdirective after
// prefix.
func (c *CertFiles) Load(prefix, alipayPublicKey string, role Role, key *rsa.PrivateKey) (*alipay.Certs, error) {
	if !c.Given() {
		return nil, nil
	}
	if err := c.CheckMode(prefix, alipayPublicKey, role); err != nil {
		return nil, err
	}
	o := alipay.CertOptions{AppCert: c.AppCert, AlipayCerts: c.AlipayCert, RootCert: c.AlipayRootCert}
	if role == Verifier {
		o.AppCertOptional = true
	} else {
		if key == nil {
			return nil, errors.New(prefix + ": private_key is required (it signs the calls; app_cert must be its certificate)")
		}
		o.PrivateKey = key
	}
	certs, err := alipay.LoadCerts(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return certs, nil
}

// UnmarshalSubdirective reads the current Caddyfile subdirective when it is
// one of app_cert, alipay_cert (repeatable) or alipay_root_cert; ok is
// false for any other.
func (c *CertFiles) UnmarshalSubdirective(d *caddyfile.Dispenser) (ok bool, err error) {
	switch d.Val() {
	case "app_cert":
		return true, handlers.StringArg(d, &c.AppCert)
	case "alipay_root_cert":
		return true, handlers.StringArg(d, &c.AlipayRootCert)
	case "alipay_cert":
		v, err := handlers.OneArg(d)
		if err != nil {
			return true, err
		}
		c.AlipayCert = append(c.AlipayCert, v)
		return true, nil
	}
	return false, nil
}
