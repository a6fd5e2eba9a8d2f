package casing

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCamelJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		verbatim       []string
	}{
		{name: "answer",
			in:   `{"errcode":0,"errmsg":"ok","session_key":"k","openid":"o","unionid":"u"}`,
			want: `{"errCode":0,"errMsg":"ok","sessionKey":"k","openid":"o","unionid":"u"}`},
		{name: "arrays of objects",
			in:   `{"list":[{"ref_date":"20170313","visit_uv_new":5464},{"ref_date":"20170314","x":[{"page_path":"p"}]}]}`,
			want: `{"list":[{"refDate":"20170313","visitUvNew":5464},{"refDate":"20170314","x":[{"pagePath":"p"}]}]}`},
		{name: "top-level array",
			in:   `[{"a_b":1},[{"c_d":[]}],"e_f"]`,
			want: `[{"aB":1},[{"cD":[]}],"e_f"]`},
		{name: "whitespace kept",
			in:   "{\n  \"ref_date\" :\t\"x\" ,\r\n  \"a_b\": { \"c_d\" : [ 1 , 2 ] }\n}\n",
			want: "{\n  \"refDate\" :\t\"x\" ,\r\n  \"aB\": { \"cD\" : [ 1 , 2 ] }\n}\n"},
		{name: "values untouched",
			in:   `{"a_b":"c_d","e_f":["g_h",{"i_j":"k_l"}],"m":"\"n_o\":1"}`,
			want: `{"aB":"c_d","eF":["g_h",{"iJ":"k_l"}],"m":"\"n_o\":1"}`},
		{name: "numbers byte-exact",
			in:   `{"big_int":9223372036854775808,"huge":1e400,"tiny":-1E-400,"neg_zero":-0,"fen":0.10,"exp":1.5e+07,"long":123456789012345678901234567890.000000000000000000001}`,
			want: `{"bigInt":9223372036854775808,"huge":1e400,"tiny":-1E-400,"negZero":-0,"fen":0.10,"exp":1.5e+07,"long":123456789012345678901234567890.000000000000000000001}`},
		{name: "string escapes kept",
			in:   `{"a_b":"\u00e9\n\"\\\/\ud83d\ude00\u2028"}`,
			want: `{"aB":"\u00e9\n\"\\\/\ud83d\ude00\u2028"}`},
		{name: "escaped key converted",
			in:   `{"session\u005fkey":1,"ref\u005Fdate":2,"\u0061ppid":3}`,
			want: `{"sessionKey":1,"refDate":2,"appId":3}`},
		{name: "escaped key unchanged keeps its escapes",
			in:   `{"open\u0069d":1,"a\/b":2,"ok_\u00e9":3,"_\u0069d":4}`,
			want: `{"open\u0069d":1,"a\/b":2,"ok_\u00e9":3,"_\u0069d":4}`},
		{name: "escaped key re-encoded",
			in:   `{"x_y\n\"\\\/\u0001\u00e9":1,"a_b\ud800":2,"c_d\ud83d\ude00":3}`,
			want: "{\"xY\\n\\\"\\\\/\\u0001é\":1,\"aB\uFFFD\":2,\"cD😀\":3}"},
		{name: "raw non-ASCII and invalid UTF-8 kept",
			in:   "{\"数据_key\":1,\"a_b\xff\":2,\"é_a\":3,\"a_é\":4}",
			want: "{\"数据_key\":1,\"aB\xff\":2,\"é_a\":3,\"a_é\":4}"},
		{name: "scalars", in: ` "a_b" `, want: ` "a_b" `},
		{name: "empty", in: `{}`, want: `{}`},
		{name: "verbatim at top level",
			in:       `{"data":{"thing_1":{"value":"x"}},"template_id":"t","nested":{"data":{"a_b":1}}}`,
			want:     `{"data":{"thing_1":{"value":"x"}},"templateId":"t","nested":{"data":{"aB":1}}}`,
			verbatim: []string{"data"}},
		{name: "verbatim in either spelling, key still converted",
			in:       `{"template_data":{"a_b":1},"other_data":{"c_d":2}}`,
			want:     `{"templateData":{"a_b":1},"otherData":{"cD":2}}`,
			verbatim: []string{"templateData"}},
		{name: "verbatim escaped key",
			in:       `{"d\u0061ta":{"a_b":1}}`,
			want:     `{"d\u0061ta":{"a_b":1}}`,
			verbatim: []string{"data"}},
		{name: "verbatim not under a top-level array",
			in:       `[{"data":{"a_b":1}}]`,
			want:     `[{"data":{"aB":1}}]`,
			verbatim: []string{"data"}},
		{name: "duplicates kept",
			in:   `{"appid":"a","app_id":"b"}`,
			want: `{"appId":"a","appId":"b"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CamelJSON([]byte(tc.in), tc.verbatim...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("CamelJSON(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestSnakeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		verbatim       []string
	}{
		{name: "request",
			in:   `{"appId":"wx1","jsCode":"c","toUser":"o","templateId":"t","page":"p","miniprogramState":"formal"}`,
			want: `{"appid":"wx1","js_code":"c","touser":"o","template_id":"t","page":"p","miniprogram_state":"formal"}`},
		{name: "snake and lowercase kept",
			in:   `{"access_token":"t","openid":"o","js_code":"c"}`,
			want: `{"access_token":"t","openid":"o","js_code":"c"}`},
		{name: "nested",
			in:   `{"jumpWxa":{"path":"/p","envVersion":"release"},"isExpire":true,"list":[{"pageIndex":1,"x":[{"msgType":"text"}]}]}`,
			want: `{"jump_wxa":{"path":"/p","env_version":"release"},"is_expire":true,"list":[{"page_index":1,"x":[{"msgtype":"text"}]}]}`},
		{name: "template data verbatim",
			in:       `{"toUser":"o","templateId":"t","data":{"thing1":{"value":"v"},"characterString2":{"value":"1"}},"miniprogramState":"trial"}`,
			want:     `{"touser":"o","template_id":"t","data":{"thing1":{"value":"v"},"characterString2":{"value":"1"}},"miniprogram_state":"trial"}`,
			verbatim: []string{"data"}},
		{name: "escaped key",
			in:   `{"\u0041pp\u0049d":1,"a\"B":2,"x\u0042\n":3}`,
			want: `{"appid":1,"a\"b":2,"x_b\n":3}`},
		{name: "numbers",
			in:   `{"totalFee":18446744073709551616,"rate":1e400}`,
			want: `{"total_fee":18446744073709551616,"rate":1e400}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SnakeJSON([]byte(tc.in), tc.verbatim...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("SnakeJSON(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestJSONInvalid(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, in := range []string{
		"", " ", "{", "}", "[", "]", "[1,]", `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`,
		"01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "1.e3", "0x1", "NaN", "Infinity", "-Infinity",
		"tru", "nul", "fals", "True", "nulll", `"abc`, `"\x"`, `"\u12g4"`, `"\u12"`, "\"\t\"", "\"\x00\"",
		"{}{}", "{} 1", "\xef\xbb\xbf{}", "'a'", `{"a":1}}`, `[1]]`, `{"a\`, `"\`, "[\"\x1f\"]", `{"a":[}`,
		`{"a":{"b":1]}`, `{,}`, `[,]`, `{"a"}`, `{"a":1,"b"}`, "\x00", deep(10001),
	} {
		for name, f := range map[string]func([]byte, ...string) ([]byte, error){"CamelJSON": CamelJSON, "SnakeJSON": SnakeJSON} {
			out, err := f([]byte(in))
			if err == nil {
				t.Errorf("%s(%.40q) = %.40q, want an error", name, in, out)
			} else if !errors.Is(err, ErrInvalidJSON) {
				t.Errorf("%s(%.40q): error %v does not wrap ErrInvalidJSON", name, in, err)
			}
			if json.Valid([]byte(in)) {
				t.Errorf("encoding/json takes %.40q: the test is wrong", in)
			}
		}
	}
	for _, in := range []string{`0`, `-0`, ` true `, `null`, `""`, `[]`, `{}`, `"\u0000"`, `-1.5E-7`, "\"\xff\"",
		`{"":""}`, deep(10000)} {
		if _, err := CamelJSON([]byte(in)); err != nil || !json.Valid([]byte(in)) {
			t.Errorf("CamelJSON(%.40q): %v (json.Valid %v)", in, err, json.Valid([]byte(in)))
		}
	}
}

func TestJSONErrorMessage(t *testing.T) {
	_, err := CamelJSON([]byte(`{"secret_key":"abcdef" x}`))
	if err == nil || strings.Contains(err.Error(), "abcdef") || !strings.Contains(err.Error(), "offset 23") {
		t.Errorf("error %q: want the offset and no content", err)
	}
}

func TestJSONAllocs(t *testing.T) {
	doc := datacube(1 << 10)
	if n := testing.AllocsPerRun(50, func() { CamelJSON(doc) }); n != 1 {
		t.Errorf("CamelJSON: %v allocations, want 1 (the output)", n)
	}
	unchanged := []byte(`{"openid":"o","sessionKey":"k","list":[{"a":1,"b":[true,null]}]}`)
	if n := testing.AllocsPerRun(50, func() { CamelJSON(unchanged) }); n != 1 {
		t.Errorf("CamelJSON, no key changes: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(50, func() { CamelJSON(doc, "data") }); n != 1 {
		t.Errorf("CamelJSON with verbatim: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(50, func() { CamelJSON(doc, "data", "templateData") }); n != 2 {
		t.Errorf("CamelJSON with verbatim templateData: %v allocations, want 2 (its snake spelling)", n)
	}
	req := camelRequest(1 << 10)
	if n := testing.AllocsPerRun(50, func() { SnakeJSON(req, "data") }); n != 1 {
		t.Errorf("SnakeJSON: %v allocations, want 1", n)
	}
	escaped := []byte(`{"a\u005fb":1,"c\u005fd":2,"e\u005ff":3}`)
	if n := testing.AllocsPerRun(50, func() { CamelJSON(escaped) }); n > 3 {
		t.Errorf("CamelJSON with escaped keys: %v allocations, want at most 3", n)
	}
}

func TestJSONInputUnchanged(t *testing.T) {
	in := []byte(`{"session_key":"k","list":[{"ref_date":1}]}`)
	keep := bytes.Clone(in)
	if _, err := CamelJSON(in); err != nil || !bytes.Equal(in, keep) {
		t.Errorf("CamelJSON changed its input: %s (%v)", in, err)
	}
}

// TestJSONMatchesValues: the byte level and the value level agree on seeded random documents.
func TestJSONMatchesValues(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		g := newGen(seed, anyKey)
		doc := g.doc()
		var verbatim []string
		if seed%3 == 0 {
			verbatim = verbatimKeys[:1+seed%4/2]
		}
		v, err := decode(doc)
		if err != nil {
			t.Fatalf("seed %d: generator made invalid JSON %q: %v", seed, doc, err)
		}
		for _, c := range []struct {
			name  string
			bytes func([]byte, ...string) ([]byte, error)
			value func(any, ...string) any
		}{{"Camel", CamelJSON, ToCamel}, {"Snake", SnakeJSON, ToSnake}} {
			out, err := c.bytes(doc, verbatim...)
			if err != nil {
				t.Fatalf("seed %d: %sJSON(%q): %v", seed, c.name, doc, err)
			}
			got, err := decode(out)
			if err != nil {
				t.Fatalf("seed %d: %sJSON(%q) = %q: invalid: %v", seed, c.name, doc, out, err)
			}
			if want := c.value(v, verbatim...); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: %sJSON(%q) = %q\ndecodes to %#v\nTo%s gives %#v", seed, c.name, doc, out, got, c.name, want)
			}
		}
	}
}

// TestJSONRoundTrip: snake_case made of lowercase words survives a trip to camelCase and back byte for byte,
// and camelCase made from them survives a trip to snake_case and back.
func TestJSONRoundTrip(t *testing.T) {
	for _, c := range []struct {
		keys        func(*gen) string
		there, back func([]byte, ...string) ([]byte, error)
	}{{wordKey, CamelJSON, SnakeJSON}, {camelWordKey, SnakeJSON, CamelJSON}} {
		for seed := range uint64(1000) {
			doc := newGen(seed, c.keys).doc()
			mid, err := c.there(doc)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.back(mid)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, doc) {
				t.Fatalf("seed %d: %q\n-> %q\n-> %q", seed, doc, mid, out)
			}
			if seed < 3 && bytes.Equal(mid, doc) && len(doc) > 10 {
				t.Logf("seed %d: nothing converted in %q", seed, doc)
			}
		}
	}
}

// TestSnakeJSONGrows: snake_case output longer than the buffer sized from the input.
func TestSnakeJSONGrows(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"aBcDeFgHiJ":1}`, `{"a_bc_de_fg_hi_j":1}`},
		{`{"x\u0001aBcDeFgHiJ":1}`, `{"x\u0001a_bc_de_fg_hi_j":1}`},
	} {
		in := "[" + strings.Repeat(c.in+",", 999) + c.in + "]"
		want := "[" + strings.Repeat(c.want+",", 999) + c.want + "]"
		got, err := SnakeJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("SnakeJSON(%s...) = %.60s... (%v)", c.in, got, err)
		}
	}
}
