package payevent

import "testing"

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
