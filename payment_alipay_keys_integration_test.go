package unicloud

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// TestPaymentAlipayAnswerKeyIsAlipays runs the gateway against the emulator,
// which signs its answers with a distinct "Alipay" key pair (the demo keys
// in examples/keys), once with alipay_public_key set right and once with the
// app's own public key in its place. The second must refuse every answer:
// a gateway that verified answers with the app's key would pass tests whose
// fake provider signs with the app's key, and fail against Alipay.
func TestPaymentAlipayAnswerKeyIsAlipays(t *testing.T) {
	const appID = "2021000000000001"
	keys, err := filepath.Abs("examples/keys")
	if err != nil {
		t.Fatal(err)
	}
	emu, gw := freeAddr(t), freeAddr(t)
	route := func(path, alipayPub string) string {
		return fmt.Sprintf(`
	handle_path %s/* {
		unicloud_payment alipay {
			app_id %s
			private_key {file.%s/demo_app_private_key.pem}
			alipay_public_key {file.%s/%s}
			notify_url http://127.0.0.1:9/notify
			endpoint http://%s/gateway.do
		}
	}`, path, appID, keys, keys, alipayPub, emu)
	}
	cf := globalOptions(filepath.Join(t.TempDir(), "storage"), "") + fmt.Sprintf(`
http://%s {
	unicloud_emulator {
		alipay_app %s {file.%s/demo_app_public_key.pem} {file.%s/demo_alipay_private_key.pem}
	}
}

http://%s {%s%s
}
`, emu, appID, keys, keys, gw, route("/right", "demo_alipay_public_key.pem"), route("/mixed", "demo_app_public_key.pem"))
	loadCaddy(t, cf)

	call := func(t *testing.T, path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := testClient.Post("http://"+gw+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		return resp.StatusCode, m
	}
	order := `{"openid":"2088102146225135","subject":"demo","outTradeNo":"keys-1","totalFee":100,"clientType":"mp-alipay"}`
	if status, m := call(t, "/right/getOrderInfo", order); status != 200 || m["orderInfo"] == nil {
		t.Fatalf("with Alipay's public key: %d %v", status, m)
	}
	for _, c := range []struct{ path, body string }{
		{"/mixed/getOrderInfo", strings.Replace(order, "keys-1", "keys-2", 1)},
		{"/mixed/orderQuery", `{"outTradeNo":"keys-1"}`},
	} {
		status, m := call(t, c.path, c.body)
		if status != 502 || m["errCode"] != "UNICLOUD_UPSTREAM_BAD_SIGNATURE" {
			t.Errorf("%s with the app's public key as alipay_public_key: %d %v", c.path, status, m)
		}
	}
}
