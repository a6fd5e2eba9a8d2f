package payevent

import (
	"testing"

	"github.com/caddy-unicloud/unicloud/casing"
)

func TestRaw(t *testing.T) {
	got := Raw(map[string]string{"out_trade_no": "o1", "sign": "S", "mch_id": "1", "total_fee": "1"})
	if len(got) != 3 || got["outTradeNo"] != "o1" || got["mchId"] != "1" || got["totalFee"] != "1" {
		t.Fatalf("Raw = %v", got)
	}
	if _, ok := got["sign"]; ok {
		t.Fatal("Raw keeps the signature")
	}
}

func TestShort(t *testing.T) {
	if got := Short("ab\r\ncd\x7f", 40); got != "ab??cd?" {
		t.Errorf("control characters: %q", got)
	}
	if got := Short("0123456789", 4); got != "0123…" {
		t.Errorf("truncation: %q", got)
	}
}

func TestRefusal(t *testing.T) {
	r := Refuse("wxpay", "signature", "sign does not verify")
	if r.Error() != "wxpay notify: signature: sign does not verify" || r.NotifyCheck() != "signature" {
		t.Fatalf("%q %q", r.Error(), r.NotifyCheck())
	}
}

func TestDropEmpty(t *testing.T) {
	m := map[string]string{"a": "1", "x": "", "gmt_refund": "", "b": " "}
	DropEmpty(m)
	if len(m) != 2 || m["a"] != "1" || m["b"] != " " {
		t.Fatalf("DropEmpty = %v", m)
	}
}

// TestRawAgreesWithCamelMap: the direct build gives what CamelMap minus sign
// gives, for known and unknown keys, and when keys collide ("mch_id" and
// "mchId", "appid" and "appId") whichever way the map is iterated.
func TestRawAgreesWithCamelMap(t *testing.T) {
	for _, fields := range []map[string]string{
		{},
		{"out_trade_no": "o1", "sign": "S", "appid": "wx", "coupon_fee_0": "1", "_id": "x", "a__b": "y", "Key_Name": "z"},
		{"mch_id": "1", "mchId": "2", "sign": "S"},
		{"appId": "a", "appid": "b", "app_id": "c"},
		{"total_fee": "1", "totalFee": "2", "total_Fee": "3"},
		{"sign": "S", "si_gn": "T"},
	} {
		for range 20 { // map order varies from run to run
			got, want := Raw(fields), rawSettled(fields)
			var list []Field
			for k, v := range fields {
				list = append(list, Field{k, v})
			}
			if fromList := RawFields(list); len(fromList) != len(want) {
				t.Fatalf("RawFields(%v) = %v, want %v", list, fromList, want)
			} else {
				for k, v := range want {
					if fromList[k] != v {
						t.Fatalf("RawFields(%v) = %v, want %v", list, fromList, want)
					}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("Raw(%v) = %v, want %v", fields, got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("Raw(%v) = %v, want %v", fields, got, want)
				}
			}
		}
	}
}

func TestKnownCamelIsCamelKey(t *testing.T) {
	for k, c := range knownCamel {
		if c != casing.CamelKey(k) {
			t.Errorf("knownCamel[%q] = %q, CamelKey says %q", k, c, casing.CamelKey(k))
		}
	}
}

func BenchmarkRaw(b *testing.B) {
	fields := map[string]string{
		"appid": "wx2421b1c4370ec43b", "attach": "支付测试", "bank_type": "CFT", "fee_type": "CNY",
		"is_subscribe": "Y", "mch_id": "10000100", "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c",
		"openid": "oUpF8uMEb4qRXf22hE3X68TekukE", "out_trade_no": "1409811653", "result_code": "SUCCESS",
		"return_code": "SUCCESS", "time_end": "20140903131540", "total_fee": "1", "sign": "S",
		"trade_type": "JSAPI", "transaction_id": "1004400740201409030005092168", "cash_fee": "1",
	}
	b.ReportAllocs()
	for b.Loop() {
		Raw(fields)
	}
}
