package alipay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-unicloud/unicloud/handlers"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf"
	"github.com/caddy-unicloud/unicloud/handlers/internal/alipayconf/alipaytest"
	"github.com/caddy-unicloud/unicloud/signing"
)

// certGateway answers alipay.system.oauth.token signed with key, naming sn
// as alipay_cert_sn; it keeps the last request's form.
type certGateway struct {
	mu     sync.Mutex
	form   url.Values
	member string
	sign   func(member string) (sn, sign string)
}

func (g *certGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	g.mu.Lock()
	g.form = form
	member, signFn := g.member, g.sign
	g.mu.Unlock()
	if member == "" {
		member = `{"user_id":"2088102150477652","open_id":"074a1CcTG1","access_token":"authusrB-SECRET","expires_in":3600,"refresh_token":"refresh-SECRET","re_expires_in":7200,"auth_start":"2024-01-02 03:04:05"}`
	}
	sn, sign := signFn(member)
	io.WriteString(w, `{"alipay_system_oauth_token_response":`+member+`,"alipay_cert_sn":"`+sn+`","sign":"`+sign+`"}`)
}

// signedBy signs as Alipay's i-th test certificate, naming sn.
func signedBy(t *testing.T, p *alipaytest.PKI, i int, sn string) func(string) (string, string) {
	return func(member string) (string, string) {
		s, err := signing.AlipaySign(p.AlipayKeys[i], []byte(member), signing.SignTypeRSA2)
		if err != nil {
			t.Error(err)
		}
		return sn, s
	}
}

// certGuest provisions the guest in certificate mode against endpoint,
// with the given Alipay certificates.
func certGuest(t *testing.T, p *alipaytest.PKI, endpoint string, alipayCerts ...string) (*Alipay, error) {
	t.Helper()
	a := &Alipay{AppID: "2021", PrivateKey: alipaytest.File(t, "app.key", p.AppKeyPEM), KeyType: "PKCS1", Endpoint: endpoint,
		CertFiles: alipayconf.CertFiles{AppCert: alipaytest.File(t, "app.crt", p.AppCert), AlipayRootCert: alipaytest.File(t, "root.crt", p.RootCert)}}
	for _, c := range alipayCerts {
		a.AlipayCert = append(a.AlipayCert, alipaytest.File(t, "alipay.crt", c))
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(func() { a.Cleanup() })
	return a, a.Validate()
}

func code2Session(a *Alipay) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/auth/code2Session", strings.NewReader(`{"code":"c1"}`))
	_, err := a.Serve(context.Background(), w, r, apiCode2Session)
	return w, err
}

// Certificate mode: requests carry app_cert_sn and alipay_root_cert_sn; an
// answer signed by the next Alipay certificate, configured next to the
// current one, is used; an answer naming a certificate that is not
// configured (or signed by another key than its SN's) is 502
// UNICLOUD_UPSTREAM_BAD_SIGNATURE.
func TestCertModeAnswers(t *testing.T) {
	p := alipaytest.New(t)
	g := &certGateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	both, err := certGuest(t, p, srv.URL+"/gateway.do", p.AlipayCerts[0], p.AlipayCerts[1])
	if err != nil {
		t.Fatal(err)
	}
	g.sign = signedBy(t, p, 1, p.AlipaySNs[1])
	w, err := code2Session(both)
	if err != nil || !strings.Contains(w.Body.String(), `"openid":"074a1CcTG1"`) {
		t.Fatalf("answer of the next certificate: %v %s", err, w.Body.String())
	}
	if f := g.form; f.Get("app_cert_sn") != both.client.Certs.AppCertSN || f.Get("alipay_root_cert_sn") != both.client.Certs.RootCertSN ||
		len(f.Get("app_cert_sn")) != 32 || len(f.Get("alipay_root_cert_sn")) != 32 {
		t.Errorf("request SNs: %v", f)
	}
	g.sign = signedBy(t, p, 0, "") // no alipay_cert_sn: any configured certificate
	if _, err := code2Session(both); err != nil {
		t.Errorf("answer naming no certificate: %v", err)
	}

	current, err := certGuest(t, p, srv.URL+"/gateway.do", p.AlipayCerts[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, sign := range map[string]func(string) (string, string){
		"unconfigured SN":   signedBy(t, p, 1, p.AlipaySNs[1]),
		"SN of another key": signedBy(t, p, 1, p.AlipaySNs[0]),
		"unknown, no SN":    signedBy(t, p, 1, ""),
	} {
		g.sign = sign
		w, err := code2Session(current)
		var ge *handlers.Error
		if !errors.As(err, &ge) || ge.Status != 502 || ge.Code != handlers.ErrUpstreamBadSignature || strings.Contains(w.Body.String(), "074a1CcTG1") {
			t.Errorf("%s: %v %s", name, err, w.Body.String())
		}
		// The SN received is named, with the fix, for the log line.
		if unknown := name == "unconfigured SN"; unknown != strings.Contains(ge.Msg, p.AlipaySNs[1]) || unknown != strings.Contains(ge.Msg, "add Alipay's current certificate") {
			t.Errorf("%s: message %q", name, ge.Msg)
		}
	}
}

// A certificate-mode configuration that cannot work stops the config, the
// message naming the subdirective to fix.
func TestCertModeConfigRefused(t *testing.T) {
	p := alipaytest.New(t)
	for name, tc := range map[string]struct {
		edit func(*Alipay)
		want string
	}{
		"with public key":    {func(a *Alipay) { a.AlipayPublicKey = "MIIB" }, "alipay_public_key and app_cert / alipay_cert / alipay_root_cert exclude each other"},
		"no root":            {func(a *Alipay) { a.AlipayRootCert = "" }, "certificate mode needs app_cert, alipay_cert and alipay_root_cert"},
		"no alipay_cert":     {func(a *Alipay) { a.AlipayCert = nil }, "certificate mode needs app_cert, alipay_cert and alipay_root_cert"},
		"app cert other key": {func(a *Alipay) { a.AppCert = p.AlipayCerts[0] }, "app_cert: the certificate's public key is not the one of private_key"},
		"other root":         {func(a *Alipay) { a.AlipayCert = []string{p.Stranger} }, "alipay_cert: does not chain to alipay_root_cert"},
		"not a certificate":  {func(a *Alipay) { a.AppCert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" }, "app_cert: no certificate could be read"},
		"path not content":   {func(a *Alipay) { a.AlipayRootCert = "/etc/alipay/alipayRootCert.crt" }, "use {file./etc/alipay/alipayRootCert.crt}"},
	} {
		t.Run(name, func(t *testing.T) {
			a := &Alipay{AppID: "2021", PrivateKey: p.AppKeyPEM, KeyType: "PKCS1", CertFiles: alipayconf.CertFiles{
				AppCert: p.AppCert, AlipayCert: []string{p.AlipayCerts[0]}, AlipayRootCert: p.RootCert}}
			tc.edit(a)
			err := provisionOnly(a)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "unicloud_openapi alipay: ") {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// provisionOnly provisions and validates a, then cleans it up.
func provisionOnly(a *Alipay) error {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	defer a.Cleanup()
	if err := a.Provision(ctx); err != nil {
		return err
	}
	return a.Validate()
}

func TestUnmarshalCaddyfileCertMode(t *testing.T) {
	var a Alipay
	in := "alipay {\napp_id 2021\nprivate_key K\napp_cert A\nalipay_cert B1\nalipay_cert B2\nalipay_root_cert R\n}"
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	if a.AppCert != "A" || len(a.AlipayCert) != 2 || a.AlipayCert[1] != "B2" || a.AlipayRootCert != "R" {
		t.Errorf("%+v", a.CertFiles)
	}
	var b Alipay
	if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser("alipay {\naes_key {env.ALI_AES_KEY}\nexpose_auth_token\n}")); err != nil || b.AESKey != "{env.ALI_AES_KEY}" || !b.ExposeAuthToken {
		t.Errorf("aes_key, expose_auth_token: %v %+v", err, b)
	}
	if err := new(Alipay).UnmarshalCaddyfile(caddyfile.NewTestDispenser("alipay {\nexpose_auth_token yes\n}")); err == nil {
		t.Error("expose_auth_token with an argument was accepted")
	}
	if err := new(Alipay).UnmarshalCaddyfile(caddyfile.NewTestDispenser("alipay {\napp_cert A\napp_cert B\n}")); err == nil || !strings.Contains(err.Error(), "app_cert is given twice") {
		t.Errorf("app_cert twice: %v", err)
	}
}
