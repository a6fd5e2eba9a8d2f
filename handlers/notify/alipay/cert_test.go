package alipay

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-unicloud/unicloud/emulator"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf/alipaytest"
	"github.com/caddy-unicloud/unicloud/handlers/notify"
	"github.com/caddy-unicloud/unicloud/signing"
)

// newCertHandler provisions the host with this provider in certificate
// mode from JSON, with the given Alipay certificates.
func newCertHandler(t *testing.T, p *alipaytest.PKI, alipayCerts ...string) (*notify.Notify, *observer.ObservedLogs) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"name": "alipay", "app_id": testAppID, "alipay_cert": alipayCerts,
		"alipay_root_cert": p.RootCert, "app_cert": p.AppCert})
	n := &notify.Notify{ProviderRaw: raw, UpstreamSecret: testSecret}
	core, logs := observer.New(zap.DebugLevel)
	n.UseEnv(zap.New(core), nil)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := n.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	return n, logs
}

// certNotification is a trade notification signed as Alipay's i-th test
// certificate, naming sn as alipay_cert_sn when sn is not empty.
func certNotification(t *testing.T, p *alipaytest.PKI, i int, sn string) *emulator.NotifyMessage {
	t.Helper()
	m, err := emulator.AlipayTradeNotification(testOrder(), p.AlipayKeys[i])
	if err != nil {
		t.Fatal(err)
	}
	if sn == "" {
		return m
	}
	form, err := url.ParseQuery(string(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for k := range form {
		if k != "sign" {
			fields[k] = form.Get(k)
		}
	}
	fields["alipay_cert_sn"] = sn
	sign, err := signing.AlipaySign(p.AlipayKeys[i], []byte(signing.AlipaySignContent(fields, false)), signing.SignTypeRSA2)
	if err != nil {
		t.Fatal(err)
	}
	form.Set("alipay_cert_sn", sn)
	form.Set("sign", sign)
	m.Body = []byte(form.Encode())
	return m
}

// Certificate mode: a notification signed by the next Alipay certificate,
// configured next to the current one, reaches the backend; one naming a
// certificate that is not configured, or signed by a certificate that is
// not, is refused like a bad signature (401 fail, backend not reached).
func TestCertModeNotifications(t *testing.T) {
	p := alipaytest.New(t)
	for name, m := range map[string]*emulator.NotifyMessage{
		"next, named":    certNotification(t, p, 1, p.AlipaySNs[1]),
		"next, unnamed":  certNotification(t, p, 1, ""),
		"current, named": certNotification(t, p, 0, p.AlipaySNs[0]),
	} {
		n, _ := newCertHandler(t, p, p.AlipayCerts[0], p.AlipayCerts[1])
		next := &recordingNext{}
		if w := serve(t, n, next, m); w.Code != 200 || w.Body.String() != "success" || next.calls != 1 {
			t.Errorf("%s: %d %q, %d backend calls", name, w.Code, w.Body.String(), next.calls)
		}
	}
	for name, m := range map[string]*emulator.NotifyMessage{
		"unconfigured SN":   certNotification(t, p, 1, p.AlipaySNs[1]),
		"SN of another key": certNotification(t, p, 1, p.AlipaySNs[0]),
		"unknown, unnamed":  certNotification(t, p, 1, ""),
	} {
		n, logs := newCertHandler(t, p, p.AlipayCerts[0])
		next := &recordingNext{}
		w := serve(t, n, next, m)
		if w.Code != 401 || w.Body.String() != "fail" || next.calls != 0 {
			t.Errorf("%s: %d %q, %d backend calls", name, w.Code, w.Body.String(), next.calls)
		}
		if e := logs.All(); len(e) != 1 || e[0].ContextMap()["check"] != "signature" {
			t.Errorf("%s: logs %v", name, e)
		}
	}
}

// Only alipay_cert is needed; a configuration that cannot work is refused,
// naming what to fix.
func TestCertModeConfig(t *testing.T) {
	p := alipaytest.New(t)
	provision := func(a *Alipay) error {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		defer cancel()
		if err := a.Provision(ctx); err != nil {
			return err
		}
		return a.Validate()
	}
	if err := provision(&Alipay{CertFiles: alipayconf.CertFiles{AlipayCert: []string{alipaytest.File(t, "a.crt", p.AlipayCerts[0])}}}); err != nil {
		t.Errorf("alipay_cert alone: %v", err)
	}
	for name, tc := range map[string]struct {
		a    Alipay
		want string
	}{
		"with public key": {Alipay{AlipayPublicKey: "MIIB", CertFiles: alipayconf.CertFiles{AlipayCert: []string{p.AlipayCerts[0]}}}, "exclude each other"},
		"root only":       {Alipay{CertFiles: alipayconf.CertFiles{AlipayRootCert: p.RootCert}}, "certificate mode needs alipay_cert"},
		"other root":      {Alipay{CertFiles: alipayconf.CertFiles{AlipayCert: []string{p.Stranger}, AlipayRootCert: p.RootCert}}, "alipay_cert: does not chain to alipay_root_cert"},
		"not a cert":      {Alipay{CertFiles: alipayconf.CertFiles{AlipayCert: []string{"MIIB"}}}, "alipay_cert: no certificate could be read"},
		"bad second":      {Alipay{CertFiles: alipayconf.CertFiles{AlipayCert: []string{p.AlipayCerts[0], "x"}}}, "alipay_cert #2: no certificate could be read"},
	} {
		a := tc.a
		if err := provision(&a); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), prefix+": ") {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	var a Alipay
	in := "alipay {\napp_id 2021\napp_cert A\nalipay_cert B1\nalipay_cert B2\nalipay_root_cert R\n}"
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil || len(a.AlipayCert) != 2 || a.AppCert != "A" || a.AlipayRootCert != "R" {
		t.Errorf("Caddyfile: %v %+v", err, a.CertFiles)
	}
}
