package casing

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestToCamel(t *testing.T) {
	in := map[string]any{
		"errcode": json.Number("0"),
		"errmsg":  "ok",
		"list": []any{
			map[string]any{"ref_date": "20170313", "visit_uv_new": json.Number("5464"), "page_path": "p"},
			map[string]any{"ref_date": "20170314", "nested_list": []any{map[string]any{"a_b": true}, []any{}}},
			"snake_value", json.Number("1e400"), nil, 1.5,
		},
		"session_key": "k",
		"openid":      "o",
		"watermark":   map[string]any{"appid": "wx1", "timestamp": json.Number("1")},
		"form":        map[string]string{"out_trade_no": "1"},
		"rows":        []map[string]any{{"total_fee": json.Number("1")}},
	}
	want := map[string]any{
		"errCode": json.Number("0"),
		"errMsg":  "ok",
		"list": []any{
			map[string]any{"refDate": "20170313", "visitUvNew": json.Number("5464"), "pagePath": "p"},
			map[string]any{"refDate": "20170314", "nestedList": []any{map[string]any{"aB": true}, []any{}}},
			"snake_value", json.Number("1e400"), nil, 1.5,
		},
		"sessionKey": "k",
		"openid":     "o",
		"watermark":  map[string]any{"appId": "wx1", "timestamp": json.Number("1")},
		"form":       map[string]string{"outTradeNo": "1"},
		"rows":       []map[string]any{{"totalFee": json.Number("1")}},
	}
	keep := copyValue(in)
	got := ToCamel(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ToCamel:\n got %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(in, keep) {
		t.Errorf("ToCamel changed its input: %#v", in)
	}
	// The output shares nothing with the input.
	got.(map[string]any)["list"].([]any)[0].(map[string]any)["refDate"] = "changed"
	got.(map[string]any)["form"].(map[string]string)["outTradeNo"] = "changed"
	if !reflect.DeepEqual(in, keep) {
		t.Errorf("changing ToCamel's output changed its input: %#v", in)
	}
}

func TestToSnake(t *testing.T) {
	in := map[string]any{
		"toUser":           "o",
		"templateId":       "t",
		"miniprogramState": "formal",
		"data":             map[string]any{"thing1": map[string]any{"value": "v"}, "characterString2": map[string]any{"value": "1"}},
		"jumpWxa":          map[string]any{"envVersion": "release", "data": map[string]any{"aB": 1}},
		"items":            []any{map[string]any{"pageIndex": 1}},
	}
	want := map[string]any{
		"touser":            "o",
		"template_id":       "t",
		"miniprogram_state": "formal",
		"data":              map[string]any{"thing1": map[string]any{"value": "v"}, "characterString2": map[string]any{"value": "1"}},
		"jump_wxa":          map[string]any{"env_version": "release", "data": map[string]any{"a_b": 1}},
		"items":             []any{map[string]any{"page_index": 1}},
	}
	keep := copyValue(in)
	got := ToSnake(in, "data")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ToSnake:\n got %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(in, keep) {
		t.Errorf("ToSnake changed its input: %#v", in)
	}
	// The verbatim value is a copy too.
	got.(map[string]any)["data"].(map[string]any)["thing1"].(map[string]any)["value"] = "changed"
	if !reflect.DeepEqual(in, keep) {
		t.Errorf("changing ToSnake's verbatim output changed its input: %#v", in)
	}
}

func TestVerbatim(t *testing.T) {
	in := map[string]any{"template_data": map[string]any{"a_b": 1}, "other": map[string]any{"template_data": map[string]any{"c_d": 2}}}
	want := map[string]any{"templateData": map[string]any{"a_b": 1}, "other": map[string]any{"templateData": map[string]any{"cD": 2}}}
	for _, v := range []string{"templateData", "template_data"} {
		if got := ToCamel(in, v); !reflect.DeepEqual(got, want) {
			t.Errorf("ToCamel(verbatim %q) = %#v", v, got)
		}
	}
	// Only the top-level object's keys: not under a top-level array.
	arr := []any{map[string]any{"data": map[string]any{"a_b": 1}}}
	if got := ToCamel(arr, "data"); !reflect.DeepEqual(got, []any{map[string]any{"data": map[string]any{"aB": 1}}}) {
		t.Errorf("ToCamel(array, verbatim data) = %#v", got)
	}
}

func TestScalars(t *testing.T) {
	type other struct{ A_B int }
	for _, v := range []any{nil, "a_b", json.Number("9223372036854775808"), 1.5, true, other{1}, []int{1}} {
		if got := ToCamel(v); !reflect.DeepEqual(got, v) {
			t.Errorf("ToCamel(%#v) = %#v", v, got)
		}
		if got := ToSnake(v, "data"); !reflect.DeepEqual(got, v) {
			t.Errorf("ToSnake(%#v) = %#v", v, got)
		}
	}
	// Nil maps and slices stay nil (JSON null), empty ones stay empty.
	for _, v := range []any{map[string]any(nil), []any(nil), map[string]any{}, []any{}, map[string]string(nil)} {
		if got := ToCamel(v); !reflect.DeepEqual(got, v) {
			t.Errorf("ToCamel(%#v) = %#v", v, got)
		}
	}
}

// TestCollisions: keys that meet on one spelling are settled by rule, never by map order.
func TestCollisions(t *testing.T) {
	for range 50 {
		got := ToCamel(map[string]any{"app_id": 1, "appid": 2, "appId": 3}).(map[string]any)
		if len(got) != 1 || got["appId"] != 3 {
			t.Fatalf("already spelled appId must win: %#v", got)
		}
		got = ToCamel(map[string]any{"app_id": 1, "appid": 2}).(map[string]any)
		if len(got) != 1 || got["appId"] != 1 { // "app_id" < "appid"
			t.Fatalf("the smallest key must win: %#v", got)
		}
		got = ToSnake(map[string]any{"userID": 1, "userId": 2, "x": map[string]any{"aB": 1, "a_b": 2}}).(map[string]any)
		if len(got) != 2 || got["user_id"] != 1 || got["x"].(map[string]any)["a_b"] != 2 {
			t.Fatalf("ToSnake collisions: %#v", got)
		}
		m := SnakeMap(map[string]string{"mchId": "a", "mch_id": "b", "MchId": "c"})
		if len(m) != 1 || m["mch_id"] != "b" {
			t.Fatalf("SnakeMap collision: %#v", m)
		}
	}
}

func TestMaps(t *testing.T) {
	in := map[string]string{"appId": "wx", "mchId": "1", "outTradeNo": "o", "nonce_str": "n", "totalFee": "1", "openid": "x"}
	want := map[string]string{"appid": "wx", "mch_id": "1", "out_trade_no": "o", "nonce_str": "n", "total_fee": "1", "openid": "x"}
	got := SnakeMap(in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SnakeMap = %#v", got)
	}
	back := CamelMap(got)
	if want := (map[string]string{"appId": "wx", "mchId": "1", "outTradeNo": "o", "nonceStr": "n", "totalFee": "1", "openid": "x"}); !reflect.DeepEqual(back, want) {
		t.Errorf("CamelMap = %#v", back)
	}
	if in["appId"] != "wx" || len(in) != 6 {
		t.Errorf("SnakeMap changed its input")
	}
	if SnakeMap(nil) != nil || CamelMap(nil) != nil {
		t.Errorf("nil map must give nil")
	}
	if m := CamelMap(map[string]string{}); m == nil || len(m) != 0 {
		t.Errorf("empty map must give an empty map")
	}
}
