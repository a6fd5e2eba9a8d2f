package casing

import "testing"

func TestSnakeKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// the ordinary rule
		{"jsCode", "js_code"},
		{"pageSize", "page_size"},
		{"outTradeNo", "out_trade_no"},
		{"templateId", "template_id"},
		{"weappTemplateMsg", "weapp_template_msg"},
		{"envVersion", "env_version"},
		// the providers' own spellings
		{"appId", "appid"},
		{"toUser", "touser"},
		{"openId", "openid"},
		{"unionId", "unionid"},
		{"pagePath", "pagepath"},
		{"msgType", "msgtype"},
		{"mchId", "mch_id"},
		{"errCode", "errcode"},
		{"errMsg", "errmsg"},
		{"AppId", "appid"},
		{"appID", "appid"},
		{"subAppId", "sub_app_id"}, // whole keys only: add a row for more
		// already the provider's spelling: unchanged
		{"openid", "openid"},
		{"access_token", "access_token"},
		{"app_id", "app_id"},
		{"err_code", "err_code"},
		{"appid", "appid"},
		{"", ""},
		{"a", "a"},
		{"_id", "_id"},
		{"__v", "__v"},
		{"key_", "key_"},
		{"a__b", "a__b"},
		// acronyms, digits, edges
		{"A", "a"},
		{"ID", "id"},
		{"aB", "a_b"},
		{"userID", "user_id"},
		{"URLLink", "url_link"},
		{"getURL", "get_url"},
		{"HTMLParser", "html_parser"},
		{"IDCard", "id_card"},
		{"aBC", "a_bc"},
		{"code2Session", "code2_session"},
		{"sha256Sum", "sha256_sum"},
		{"page2", "page2"},
		{"couponFee_0", "coupon_fee_0"},
		{"page_1X", "page_1_x"},
		{"_Id", "_id"},
		{"some_Key", "some_key"},
		{"Some", "some"},
		{"x-Request-Id", "x-request-id"},
		{"çaVa", "ça_va"},
		{"数据Key", "数据key"},
	} {
		if got := SnakeKey(tc.in); got != tc.want {
			t.Errorf("SnakeKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCamelKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"session_key", "sessionKey"},
		{"ref_date", "refDate"},
		{"access_token", "accessToken"},
		{"expires_in", "expiresIn"},
		{"visit_uv_new", "visitUvNew"},
		{"out_trade_no", "outTradeNo"},
		// the providers' own spellings that go back
		{"errcode", "errCode"},
		{"errmsg", "errMsg"},
		{"appid", "appId"},
		{"mch_id", "mchId"},
		// one way: the answers keep them lowercase
		{"openid", "openid"},
		{"unionid", "unionid"},
		{"touser", "touser"},
		{"pagepath", "pagepath"},
		{"msgtype", "msgtype"},
		// without underscore: unchanged
		{"sessionKey", "sessionKey"},
		{"phoneNumber", "phoneNumber"},
		{"", ""},
		{"x", "x"},
		// underscores that are kept
		{"_id", "_id"},
		{"__v", "__v"},
		{"_", "_"},
		{"__", "__"},
		{"_a_b", "_aB"},
		{"key_", "key_"},
		{"a_b_", "aB_"},
		{"a__b", "a__b"},
		{"a_B", "a_B"},
		{"coupon_fee_0", "couponFee_0"},
		{"coupon_refund_fee_0_1", "couponRefundFee_0_1"},
		{"page_1_x", "page_1X"},
		{"v2_api", "v2Api"},
		{"1_a", "1A"},
		{"é_a", "é_a"},
		{"a-b_c", "a-bC"},
		{"x_y", "xY"},
		{"a_b_c", "aBC"},
		{"APPID", "APPID"},
	} {
		if got := CamelKey(tc.in); got != tc.want {
			t.Errorf("CamelKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestKeyRoundTrip holds the documented round trips and their exceptions.
func TestKeyRoundTrip(t *testing.T) {
	// Ordinary camelCase keys come back; so do the provider spellings that go back.
	for _, k := range []string{"jsCode", "pageSize", "outTradeNo", "sessionKey", "refDate", "code2Session",
		"appId", "mchId", "errCode", "errMsg", "x", "aB", "_id", "couponFee_0", "visitUvNew"} {
		if got := CamelKey(SnakeKey(k)); got != k {
			t.Errorf("CamelKey(SnakeKey(%q)) = %q", k, got)
		}
	}
	// The one-way spellings: what goes out as touser comes back as touser.
	for k, want := range map[string]string{"toUser": "touser", "openId": "openid", "unionId": "unionid",
		"pagePath": "pagepath", "msgType": "msgtype", "userID": "userId", "AppId": "appId"} {
		if got := CamelKey(SnakeKey(k)); got != want {
			t.Errorf("CamelKey(SnakeKey(%q)) = %q, want %q", k, got, want)
		}
	}
	// Provider keys come back from a trip through the caller's spelling, except the table's plain spellings of a
	// provider key (err_code goes out as errcode) and runs of one-letter words.
	for _, k := range []string{"session_key", "ref_date", "appid", "errcode", "errmsg", "mch_id", "openid", "touser",
		"_id", "__v", "key_", "a__b", "coupon_fee_0", "coupon_refund_fee_0_1", "page_1_x", "v2_api", "1_a", "x_y",
		"a_b_cd"} {
		if got := SnakeKey(CamelKey(k)); got != k {
			t.Errorf("SnakeKey(CamelKey(%q)) = %q", k, got)
		}
	}
	for k, want := range map[string]string{"err_code": "errcode", "app_id": "appid", "open_id": "openid",
		"a_b_c": "a_bc"} {
		if got := SnakeKey(CamelKey(k)); got != want {
			t.Errorf("SnakeKey(CamelKey(%q)) = %q, want %q", k, got, want)
		}
	}
}

// TestKeyIdempotent: converting twice is converting once.
func TestKeyIdempotent(t *testing.T) {
	for _, k := range []string{"jsCode", "userID", "HTMLParser", "a_b_c", "_a_b", "a__b", "page_1_x", "appid",
		"errCode", "mch_id", "çaVa", "a_B", "x_Y_z", "A_b"} {
		if s := SnakeKey(k); SnakeKey(s) != s {
			t.Errorf("SnakeKey not idempotent on %q: %q, %q", k, s, SnakeKey(s))
		}
		if c := CamelKey(k); CamelKey(c) != c {
			t.Errorf("CamelKey not idempotent on %q: %q, %q", k, c, CamelKey(c))
		}
	}
}

// TestSpellingTable: every row converts both ways as the table says.
func TestSpellingTable(t *testing.T) {
	for _, r := range spellings {
		if got := SnakeKey(r.camel); got != r.provider {
			t.Errorf("SnakeKey(%q) = %q, want %q", r.camel, got, r.provider)
		}
		want := r.provider
		if r.back {
			want = r.camel
		}
		if got := CamelKey(r.provider); got != want {
			t.Errorf("CamelKey(%q) = %q, want %q", r.provider, got, want)
		}
	}
}

func TestKeyAllocs(t *testing.T) {
	for _, k := range []string{"openid", "access_token", "_id"} {
		if n := testing.AllocsPerRun(100, func() { SnakeKey(k) }); n != 0 {
			t.Errorf("SnakeKey(%q): %v allocations", k, n)
		}
	}
	for _, k := range []string{"openid", "sessionKey", "_id", "a__b", "page_2"} {
		if n := testing.AllocsPerRun(100, func() { CamelKey(k) }); n != 0 {
			t.Errorf("CamelKey(%q): %v allocations", k, n)
		}
	}
}

// CallerKey names a parameter the way callers write it: camelCase, the one-way rows' camel key, and openid and
// unionid lowercase as the seeds document them.
func TestCallerKey(t *testing.T) {
	for k, want := range map[string]string{
		"touser": "toUser", "pagepath": "pagePath", "msgtype": "msgType", "template_id": "templateId",
		"openid": "openid", "unionid": "unionid", "appid": "appId", "mch_id": "mchId", "js_code": "jsCode", "scene": "scene",
	} {
		if got := CallerKey(k); got != want {
			t.Errorf("CallerKey(%q) = %q, want %q", k, got, want)
		}
	}
}
