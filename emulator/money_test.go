package emulator

import "testing"

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 1: "0.01", 10: "0.10", 99: "0.99", 100: "1.00", 101: "1.01", 123456: "1234.56", 10_000_000_000: "100000000.00", -5: "-0.05"} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}

func TestParseYuan(t *testing.T) {
	for s, want := range map[string]int64{"0.01": 1, "0.1": 10, "5": 500, "12.34": 1234, "0": 0, "100000000.00": 10_000_000_000} {
		if got, ok := parseYuan(s); !ok || got != want {
			t.Errorf("parseYuan(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", ".", "5.", ".5", "1.234", "-1", "+1", "01", " 1", "1 ", "1e2", "1,00", "100000000.01", "9999999999", "0x10", "1.2a"} {
		if got, ok := parseYuan(s); ok {
			t.Errorf("parseYuan(%q) = %d, accepted", s, got)
		}
	}
}

// What yuan writes, parseYuan reads back, up to Alipay's largest amount.
func TestYuanRoundTrip(t *testing.T) {
	for _, fen := range []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, 123456, 99999999, maxYuanFen - 1, maxYuanFen} {
		if got, ok := parseYuan(yuan(fen)); !ok || got != fen {
			t.Errorf("parseYuan(yuan(%d)) = %d, %v", fen, got, ok)
		}
	}
	for fen := int64(0); fen < 20000; fen += 7 {
		if got, ok := parseYuan(yuan(fen)); !ok || got != fen {
			t.Fatalf("parseYuan(yuan(%d)) = %d, %v", fen, got, ok)
		}
	}
}
