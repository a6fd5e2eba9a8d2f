package emulator

import (
	"bytes"
	"encoding/xml"
	"errors"
	"sort"
	"strings"
)

// WeChat Pay v2's XML, as the emulator reads and writes it. The emulator
// keeps its own code for it, apart from the gateway's (providers/wxpay):
// the two sides must agree through the format, not through shared code.

// xmlDoc is a flat WeChat Pay document: <xml><name>value</name>…</xml>.
type xmlDoc struct {
	XMLName xml.Name
	Fields  []xmlField `xml:",any"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
	Inner   []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// readWxpayXML reads a flat <xml> document into its fields, as WeChat Pay's
// server does. A document with a DOCTYPE, nested elements or a field twice
// is refused.
func readWxpayXML(body []byte) (map[string]string, error) {
	if bytes.Contains(bytes.ToUpper(body), []byte("<!DOCTYPE")) {
		return nil, errors.New("directives are not accepted")
	}
	var doc xmlDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.XMLName.Local != "xml" {
		return nil, errors.New("the root element is not <xml>")
	}
	fields := make(map[string]string, len(doc.Fields))
	for _, f := range doc.Fields {
		name := f.XMLName.Local
		if _, dup := fields[name]; dup {
			return nil, errors.New("a field appears twice")
		}
		if len(f.Inner) > 0 {
			return nil, errors.New("a field holds an element")
		}
		fields[name] = f.Value
	}
	return fields, nil
}

// wxpayXML writes fields as WeChat Pay answers: numbers as plain text,
// other values in CDATA, and a value that cannot sit in CDATA (it holds
// "]]>") escaped.
func wxpayXML(fields map[string]string) []byte {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range names {
		v := fields[k]
		b.WriteString("<" + k + ">")
		switch {
		case v != "" && allDigits(v):
			b.WriteString(v)
		case strings.Contains(v, "]]>"):
			xml.EscapeText(&b, []byte(v))
		default:
			b.WriteString("<![CDATA[" + v + "]]>")
		}
		b.WriteString("</" + k + ">")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}
