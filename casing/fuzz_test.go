package casing

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// token is one token of a document: a key, or any other token (delimiters, strings, numbers, literals), with the
// keys that sit under a verbatim top-level key marked.
type token struct {
	key, verbatim bool
	v             any
}

// tokens reads a valid document with encoding/json's tokenizer.
func tokens(t *testing.T, doc []byte, spellings []string) []token {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	type level struct {
		object, wantKey bool
	}
	var stack []level
	var out []token
	underVerbatim := false
	for {
		tk, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("tokens of %q: %v", doc, err)
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].wantKey && tk != json.Delim('}') {
			if top == 0 {
				underVerbatim = isVerbatim(spellings, tk.(string))
			}
			out = append(out, token{key: true, verbatim: top > 0 && underVerbatim, v: tk})
			stack[top].wantKey = false
			continue
		}
		out = append(out, token{v: tk})
		switch tk {
		case json.Delim('{'):
			stack = append(stack, level{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
			top--
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
}

// checkConverted holds out to be in with its keys converted by key, everything else equal as decoded.
func checkConverted(t *testing.T, in, out []byte, key func(string) string, verbatim []string) {
	if !json.Valid(out) {
		t.Fatalf("output of %q is not valid JSON: %q", in, out)
	}
	spellings := appendSpellings(nil, verbatim)
	a, b := tokens(t, in, spellings), tokens(t, out, spellings)
	if len(a) != len(b) {
		t.Fatalf("%q: %d tokens, output %q: %d", in, len(a), out, len(b))
	}
	for i := range a {
		want := a[i].v
		if a[i].key && !a[i].verbatim {
			want = key(want.(string))
		}
		if a[i].key != b[i].key || want != b[i].v {
			t.Fatalf("%q -> %q: token %d is %#v, want %#v", in, out, i, b[i].v, want)
		}
	}
}

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		`{"session_key":"k","errcode":0,"list":[{"ref_date":"1"}]}`,
		`{"appId":"wx","toUser":"o","data":{"thing1":{"value":"v"}}}`,
		`{"a\u005fb":"\u00e9","x\ud800_y":1,"\"q_r":[1e400,-0,9223372036854775808]}`,
		` [ {"a_b" : { "cD" : [ ] } } , null , true , "s_t" ] `,
		"{\"数据_key\":1,\"a_b\xff\":2}",
		`{"a":`, `[1,]`, `01`, `"\x"`, `{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Add(datacube(1 << 10))
	f.Add(camelRequest(1 << 10))
}

func FuzzCamelJSON(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, verbatim := range [][]string{nil, {"data"}} {
			out, err := CamelJSON(in, verbatim...)
			if valid := json.Valid(in); (err == nil) != valid {
				t.Fatalf("CamelJSON(%q): error %v, but json.Valid says %v", in, err, valid)
			}
			if err == nil {
				checkConverted(t, in, out, CamelKey, verbatim)
			}
		}
	})
}

func FuzzSnakeJSON(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, verbatim := range [][]string{nil, {"data"}} {
			out, err := SnakeJSON(in, verbatim...)
			if valid := json.Valid(in); (err == nil) != valid {
				t.Fatalf("SnakeJSON(%q): error %v, but json.Valid says %v", in, err, valid)
			}
			if err == nil {
				checkConverted(t, in, out, SnakeKey, verbatim)
			}
		}
	})
}
