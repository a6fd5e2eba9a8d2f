package conf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// readClientAppIDs reads every client_app_id line of a block.
func readClientAppIDs(in string) (map[string]string, error) {
	d := caddyfile.NewTestDispenser(in)
	var m map[string]string
	d.Next()
	for d.NextBlock(0) {
		if err := ClientAppIDArg(d, &m); err != nil {
			return m, err
		}
	}
	return m, nil
}

func TestClientAppIDArg(t *testing.T) {
	m, err := readClientAppIDs("wxpay {\n client_app_id h5-weixin wxoa\n client_app_id app-plus wxapp\n client_app_id mp-weixin wxmp\n client_app_id h5 wxh5\n client_app_id native wxpc\n}")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"h5-weixin": "wxoa", "app-plus": "wxapp", "mp-weixin": "wxmp", "h5": "wxh5", "native": "wxpc"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %v", m)
	}
	for in, msg := range map[string]string{
		"wxpay {\n client_app_id mp-alipay wx1\n}":                               `clientType "mp-alipay" is not one of mp-weixin, h5-weixin, app-plus, h5, native`,
		"wxpay {\n client_app_id H5-weixin wx1\n}":                               `clientType "H5-weixin" is not one of`,
		"wxpay {\n client_app_id h5-weixin\n}":                                   "client_app_id takes a clientType (mp-weixin, h5-weixin, app-plus, h5, native) and an appid",
		"wxpay {\n client_app_id h5-weixin wx1 wx2\n}":                           "client_app_id takes a clientType",
		"wxpay {\n client_app_id h5-weixin wx1\n client_app_id h5-weixin wx2\n}": "client_app_id h5-weixin is given twice",
	} {
		if _, err := readClientAppIDs(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

func TestResolveAndCheckClientAppIDs(t *testing.T) {
	t.Setenv("UNICLOUD_TEST_OA_APPID", " wxoa\n")
	m := map[string]string{"h5-weixin": "{env.UNICLOUD_TEST_OA_APPID}", "app-plus": "wxapp"}
	if err := ResolveClientAppIDs("p", m); err != nil {
		t.Fatal(err)
	}
	if m["h5-weixin"] != "wxoa" || m["app-plus"] != "wxapp" {
		t.Errorf("resolved %v", m)
	}
	if err := CheckClientAppIDs("p", m); err != nil {
		t.Error(err)
	}
	if err := ResolveClientAppIDs("p", map[string]string{"h5-weixin": "{env.UNICLOUD_TEST_UNSET_APPID}"}); err == nil ||
		!strings.Contains(err.Error(), "client_app_id h5-weixin") {
		t.Errorf("an unset variable: %v", err)
	}
	for _, tc := range []struct {
		m   map[string]string
		msg string
	}{
		{map[string]string{"mp-alipay": "wx1"}, `client_app_id: clientType "mp-alipay" is not one of`},
		{map[string]string{"h5-weixin": ""}, "client_app_id h5-weixin needs an appid"},
	} {
		if err := CheckClientAppIDs("p", tc.m); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: %v, want %q", tc.m, err, tc.msg)
		}
	}
	if err := CheckClientAppIDs("p", nil); err != nil {
		t.Error(err)
	}
}
