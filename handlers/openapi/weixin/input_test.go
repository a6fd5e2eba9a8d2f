package weixin

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/caddy-unicloud/unicloud/handlers"
)

// decodeObject reads every body as handlers.DecodeObject (encoding/json
// with UseNumber) does: the same parameters, the same refusals.
func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	bodies := []string{
		``, `  `, `{}`, ` {"a":1} `, `{"path":"p","query":"a=1","isExpire":false}`,
		`{"n":-1.5e+3,"z":0,"big":12345678901234567890,"f":1.0}`,
		`{"a":{"b":[1,"x",null,true,{"c":[]}]},"e":[]}`,
		`{"dup":1,"dup":2}`, `{"esc":"\"\\\/\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00","\u0041key":"v"}`,
		`{"lone":"\ud800","lone2":"\udc00x","bad":"\xff\xfe a \xc3"}`, "{\"k\xff\":\"v\"}",
		`[]`, `[1]`, `"s"`, `1`, `null`, `{"a":1}{"b":2}`, `{"a":1} x`, `{"a":}`, `{"a":1,}`, `{'a':1}`, `{"a":NaN}`,
	}
	const alphabet = " {}[]\":,ab1\\u0e\xff"
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		b := make([]byte, rng.IntN(12))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		bodies = append(bodies, `{"k":"`+string(b)+`"}`, string(b))
	}
	for _, body := range bodies {
		want, wantErr := handlers.DecodeObject([]byte(body))
		got, err := decodeObject([]byte(body))
		var we, ge *handlers.Error
		if (wantErr == nil) != (err == nil) || wantErr != nil && (!errors.As(wantErr, &we) || !errors.As(err, &ge) || *we != *ge) {
			t.Fatalf("%q: err %v, want %v", body, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", body, got, want)
		}
	}
}
