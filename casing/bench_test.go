package casing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// datacube makes a WeChat analysis answer of about size bytes: getVisitPage rows, a getDailyVisitTrend list and a
// getUserPortrait block, snake_case keys as WeChat sends them.
func datacube(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"ref_date":"20170313","visit_uv_new":{"province":[{"id":31,"name":"广东省","value":1},` +
		`{"id":11,"name":"北京","value":3}],"genders":[{"id":1,"name":"男","value":1}],"platforms":[{"id":1,` +
		`"name":"iPhone","value":1}],"ages":[{"id":1,"name":"17岁以下","value":1}]},"trend":[{"ref_date":"20170313",` +
		`"session_cnt":142549,"visit_pv":472351,"visit_uv":55500,"visit_uv_new":5464,"stay_time_session":0,` +
		`"visit_depth":1.9838}],"list":[`)
	for i := 0; b.Len() < size-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"page_path":"pages/main/main%d.html","page_visit_pv":%d,"page_visit_uv":%d,`+
			`"page_staytime_pv":8.139198,"entrypage_pv":117922,"exitpage_pv":61304,"page_share_pv":180,`+
			`"page_share_uv":166}`, i, 213429+i, 55423+i)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// camelRequest makes a caller's body of about size bytes: a subscribe message with template data (passed
// verbatim) and url scheme / customer service parameters in camelCase.
func camelRequest(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"toUser":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","templateId":"TEMPLATE_ID","page":"pages/index/index?foo=bar",` +
		`"miniprogramState":"formal","lang":"zh_CN","data":{"thing1":{"value":"339208499"},"time2":{"value":` +
		`"2015年01月05日"},"characterString3":{"value":"TIT创意园"}},"items":[`)
	for i := 0; b.Len() < size-2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"jumpWxa":{"path":"/pages/p%d","query":"a=1","envVersion":"release"},"isExpire":true,`+
			`"expireType":1,"expireInterval":30,"msgType":"text","pageIndex":%d}`, i, i)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func benchJSON(b *testing.B, f func([]byte, ...string) ([]byte, error), doc []byte, verbatim ...string) {
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f(doc, verbatim...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCamelJSON1KB(b *testing.B)  { benchJSON(b, CamelJSON, datacube(1<<10)) }
func BenchmarkCamelJSON64KB(b *testing.B) { benchJSON(b, CamelJSON, datacube(64<<10)) }
func BenchmarkSnakeJSON1KB(b *testing.B)  { benchJSON(b, SnakeJSON, camelRequest(1<<10), "data") }

// BenchmarkCamelValues64KB is the same answer through encoding/json and ToCamel, for comparison.
func BenchmarkCamelValues64KB(b *testing.B) {
	doc := datacube(64 << 10)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := decode(doc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(ToCamel(v)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValid64KB is encoding/json.Valid on the same answer: the cost of validating alone, for comparison.
func BenchmarkValid64KB(b *testing.B) {
	doc := datacube(64 << 10)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if !json.Valid(doc) {
			b.Fatal("invalid")
		}
	}
}
