package signing

import "testing"

func TestHMACSHA256Hex(t *testing.T) {
	// RFC 4231 test case 2.
	got := HMACSHA256Hex([]byte("Jefe"), []byte("what do ya want for nothing?"))
	const want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Fatalf("got %s", got)
	}
}

func TestEqualHex(t *testing.T) {
	const h = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{h, h, true},
		{h, "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843", true},
		{h, h[:62], false},
		{h, h[:63], false},
		{h, h[:63] + "4", false},
		{h, "zz" + h[2:], false},
		{"", "", false},
		{h, "", false},
	} {
		if got := EqualHex(c.a, c.b); got != c.want {
			t.Errorf("EqualHex(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
