package weixin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzPrepareParams feeds any JSON object to every catalog row: no panic,
// and either a parameter error or provider parameters that marshal and
// carry every required parameter.
func FuzzPrepareParams(f *testing.F) {
	for _, seed := range []string{
		`{"code":"c"}`, `{"beginDate":"20240101","endDate":"20240102"}`,
		`{"touser":"o","templateId":"t","data":{"k":{"value":"v"}}}`,
		`{"pageIndex":2,"pageSize":5}`, `{"pageIndex":1e400}`, `{"pageSize":-1}`,
		`{"touser":"o","mp_template_msg":{"appid":"x"}}`, `{"templateAppid":7}`,
		`{"scene":"a","lineColor":{"r":0}}`, `{"url":"/wxa/x","data":[1]}`,
	} {
		f.Add(seed)
	}
	cc := &CallContext{AppID: "wxapp", H5AppID: "wxoa"}
	f.Fuzz(func(t *testing.T, in string) {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		if dec.Decode(&m) != nil || m == nil {
			return
		}
		for i := range Catalog {
			a := &Catalog[i]
			out, err := a.PrepareParams(m, cc)
			if err != nil {
				var pe *ParamError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: %v is not a ParamError", a.Name, err)
				}
				continue
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("%s: prepared parameters do not marshal: %v", a.Name, err)
			}
			for _, p := range a.Params {
				if v, ok := out[p.Name]; p.Required && (!ok || v == nil || v == "") {
					t.Fatalf("%s: required %s missing from %v", a.Name, p.Name, out)
				}
			}
		}
	})
}
