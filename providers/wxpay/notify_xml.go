package wxpay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Bounds of a notification XML document. A real v2 notification has about
// thirty fields and fits in 4 KB.
const (
	maxNotifyXMLBytes  = 1 << 20
	maxNotifyXMLFields = 200
)

// errXMLDuplicate is a field that appears more than once.
var errXMLDuplicate = errors.New("xml: a field appears twice")

// ParseNotifyXML reads a WeChat Pay v2 XML document from the bytes received:
// one root element named root holding flat child elements whose text (plain
// or CDATA) is returned by element name, exactly as sent (no trimming).
//
// It refuses what WeChat Pay never sends and what XML attacks need: a
// DOCTYPE or any other directive (so no entity can be declared: XXE and
// entity expansion), processing instructions other than a leading XML
// declaration, references to undeclared entities, encodings other than
// UTF-8, nested elements, namespaced names, repeated fields, text outside
// the fields, more than one root, and oversize input.
func ParseNotifyXML(data []byte, root string) (map[string]string, error) {
	if len(data) > maxNotifyXMLBytes {
		return nil, errors.New("xml: document too large")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	// No CharsetReader: a declared encoding other than UTF-8 is an error.
	// No Entity map: only the five predefined entities and character
	// references are known; anything else is a syntax error in strict mode.
	fields := make(map[string]string)
	var (
		depth    int    // 0 outside the root, 1 in the root, 2 in a field
		field    string // the field being read at depth 2
		value    []byte
		tokens   int
		rootSeen bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("xml: syntax error on line %d", se.Line)
			}
			return nil, errors.New("xml: unreadable document")
		}
		tokens++
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" || tokens != 1 {
				return nil, errors.New("xml: processing instructions are not allowed")
			}
		case xml.Directive:
			return nil, errors.New("xml: DOCTYPE and other directives are not allowed")
		case xml.Comment:
			// Ignored, wherever it is.
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, errors.New("xml: namespaced elements are not allowed")
			}
			switch depth {
			case 0:
				if rootSeen {
					return nil, errors.New("xml: more than one root element")
				}
				if t.Name.Local != root {
					return nil, fmt.Errorf("xml: root element is not <%s>", root)
				}
				rootSeen = true
			case 1:
				if _, dup := fields[t.Name.Local]; dup {
					return nil, fmt.Errorf("%w: %s", errXMLDuplicate, shortID(t.Name.Local))
				}
				if len(fields) >= maxNotifyXMLFields {
					return nil, errors.New("xml: too many fields")
				}
				field, value = t.Name.Local, value[:0]
			default:
				return nil, fmt.Errorf("xml: field %s holds an element", shortID(field))
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 1 {
				fields[field] = string(value)
			}
		case xml.CharData:
			if depth == 2 {
				value = append(value, t...)
			} else if len(bytes.TrimLeft(t, " \t\r\n")) != 0 {
				return nil, errors.New("xml: text outside the fields")
			}
		}
	}
	if !rootSeen {
		return nil, fmt.Errorf("xml: no <%s> element", root)
	}
	return fields, nil
}
