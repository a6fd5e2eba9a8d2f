package push

import (
	"bytes"
	"strings"
	"testing"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
)

// refXMLMessage is the XML path as it was first written (element tree →
// value tree → JSON), the reference xmlMessage must agree with.
func refXMLMessage(root *wxxml.Element) (json, id, msgType, event string) {
	v := refFromXML(root)
	var out bytes.Buffer
	writeJSON(&out, &v, camelKeys, true)
	return out.String(), messageID(&v, out.Bytes()), v.str("MsgType"), v.str("Event")
}

func refFromXML(e *wxxml.Element) value {
	if len(e.Children) == 0 {
		t := strings.TrimSpace(e.Text)
		if numericLeaf(e.Name) && isNumber(t) {
			return value{kind: 'n', s: t}
		}
		return value{kind: 's', s: t}
	}
	var obj []member
	for i := range e.Children {
		c := &e.Children[i]
		v := refFromXML(c)
		j := -1
		for k := range obj {
			if obj[k].key == c.Name {
				j = k
			}
		}
		if j >= 0 {
			if obj[j].val.kind != 'a' || obj[j].val.s != "\x00repeat" {
				obj[j].val = value{kind: 'a', arr: []value{obj[j].val}, s: "\x00repeat"}
			}
			obj[j].val.arr = append(obj[j].val.arr, v)
			continue
		}
		obj = append(obj, member{key: c.Name, val: v})
	}
	return value{kind: 'o', obj: obj}
}

var xmlMessageSeeds = []string{
	`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName><CreateTime>1700000000</CreateTime>` +
		`<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[123]]></Content><MsgId>0007234567890123456789</MsgId></xml>`,
	`<xml><MsgType>event</MsgType><Event>wxa_media_check</Event><trace_id>t</trace_id><version>2</version>` +
		`<detail><strategy>content_model</strategy><errcode>0</errcode></detail><detail><strategy>keyword</strategy></detail>` +
		`<result><suggest>pass</suggest><label>100</label></result><errcode>0</errcode><errmsg>ok</errmsg></xml>`,
	`<xml><MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>-113.358803</Location_Y><Scale>20</Scale><Label> a "b" \ </Label></xml>`,
	`<xml><MsgType>text</MsgType><MsgType>again</MsgType><Encrypt>x</Encrypt><MsgId>12a</MsgId><A><B>1</B><B><C>2</C></B><B>3</B></A></xml>`,
	`<xml><MsgType>news</MsgType><Articles><item><Title>t</Title></item><item><Title>u</Title></item></Articles><CreateTime>01</CreateTime></xml>`,
	`<xml><MsgType>t</MsgType><MsgID>42</MsgID><Empty/><Nested><MsgId>9</MsgId></Nested></xml>`,
	`<xml><MsgType><x>1</x></MsgType></xml>`,
}

// TestXMLMessageAgreesWithReference: the direct XML → JSON writer gives
// the same JSON, id, MsgType and Event as the element → value → JSON path.
func TestXMLMessageAgreesWithReference(t *testing.T) {
	for _, doc := range xmlMessageSeeds {
		checkXMLMessage(t, []byte(doc))
	}
}

func checkXMLMessage(t *testing.T, doc []byte) {
	t.Helper()
	root, err := wxxml.Parse(doc)
	if err != nil {
		return
	}
	json, id, msgType, event := refXMLMessage(root)
	m, err := xmlMessage(root, len(doc), false)
	if msgType == "" {
		if err == nil {
			t.Fatalf("%q: no MsgType for the reference, accepted: %s", doc, m.JSON)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: %v", doc, err)
	}
	if string(m.JSON) != json || m.ID != id || m.MsgType != msgType || m.Event != event {
		t.Fatalf("%q:\n got %s %s %q %q\nwant %s %s %q %q", doc, m.JSON, m.ID, m.MsgType, m.Event, json, id, msgType, event)
	}
}

func FuzzXMLMessage(f *testing.F) {
	for _, s := range xmlMessageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkXMLMessage(t, doc) })
}
