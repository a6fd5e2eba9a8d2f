package unicloud

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// validateCaddyfile adapts a Caddyfile and validates it as `caddy validate`
// does: every module is provisioned and validated, nothing listens.
func validateCaddyfile(t *testing.T, caddyfile string) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(adaptCaddyfile(t, caddyfile), &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// TestPaymentConfigRefused checks that `caddy validate` refuses payment
// values that cannot work, naming the subdirective and the rule.
func TestPaymentConfigRefused(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wxpay := func(lines string) string {
		return "unicloud_payment wxpay {\n\t\tapp_id wxdemo0000000001\n\t\tmch_id 1900000109\n" + lines + "\n\t}"
	}
	for name, tc := range map[string]struct{ handler, want string }{
		"v2 key of 33 characters": {wxpay("\t\tkey demo-apiv2-key-000000000000000001"),
			"unicloud_payment wxpay: key must be 32 characters (the APIv2 key set in the merchant platform), not 33"},
		"relative notify_url": {wxpay("\t\tkey " + payWxKey + "\n\t\tnotify_url /notify/wxpay"),
			`notify_url must be an absolute http(s) URL such as https://example.com/notify, not "/notify/wxpay"`},
		"key from an empty file": {wxpay("\t\tkey {file." + empty + "}"),
			"key: {file." + empty + "} resolved to an empty value (missing or empty file?)"},
		"alipay private_key given as a path": {"unicloud_payment alipay {\n\t\tapp_id 2021000000000001\n\t\tprivate_key /etc/alipay/key.pem\n\t\talipay_public_key x\n\t}",
			`private_key: "/etc/alipay/key.pem" looks like a file path: use {file./etc/alipay/key.pem}`},
		"notify v2 key of 31 characters": {"unicloud_payment_notify wxpay {\n\t\tkey 0123456789abcdef0123456789abcde\n\t}\n\trespond 200",
			"key must be 32 characters"},
	} {
		t.Run(name, func(t *testing.T) {
			cf := globalOptions(filepath.Join(dir, "storage"), "") + fmt.Sprintf("http://%s {\n\tbind 127.0.0.1\n\t%s\n}\n", freeAddr(t), tc.handler)
			err := validateCaddyfile(t, cf)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestPaymentPublicListenWarning checks the warning logged at load when the
// payment API (which can refund) listens beyond loopback and private
// networks.
func TestPaymentPublicListenWarning(t *testing.T) {
	const warning = "unicloud_payment is reachable beyond loopback and private networks"
	for _, tc := range []struct {
		name, bind string
		warns      bool
	}{
		{"bind 127.0.0.1", "\tbind 127.0.0.1\n", false},
		{"bind a private address", "\tbind 10.0.0.1 127.0.0.1\n", false},
		{"no bind: every interface", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "caddy.log")
			_, port, _ := strings.Cut(freeAddr(t), ":")
			cf := globalOptions(filepath.Join(dir, "storage"), logFile) + fmt.Sprintf(`http://127.0.0.1:%s {
%s	unicloud_payment wxpay {
		app_id wxdemo0000000001
		mch_id 1900000109
		key %s
		endpoint http://127.0.0.1:1
	}
}
`, port, tc.bind, payWxKey)
			if err := validateCaddyfile(t, cf); err != nil {
				t.Fatal(err)
			}
			logs, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			var found map[string]any
			for _, line := range strings.Split(string(logs), "\n") {
				if strings.Contains(line, warning) {
					if err := json.Unmarshal([]byte(line), &found); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !tc.warns {
				if found != nil {
					t.Fatalf("warned: %v", found)
				}
				return
			}
			if found == nil {
				t.Fatalf("no warning in the log:\n%s", logs)
			}
			msg, _ := found["msg"].(string)
			if found["level"] != "warn" || !strings.Contains(msg, "bind 127.0.0.1") || !strings.Contains(msg, "authentication") {
				t.Errorf("warning: %v", found)
			}
			if l, _ := found["listen"].([]any); len(l) != 1 || l[0] != ":"+port {
				t.Errorf("listen: %v, want [:%s]", found["listen"], port)
			}
			if strings.Contains(string(logs), payWxKey) {
				t.Error("the APIv2 key is in the log")
			}
		})
	}
}
