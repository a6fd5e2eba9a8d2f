package wxpay

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
	"github.com/caddy-unicloud/unicloud/providers/payevent"
)

// Bounds of a notification XML document. A real v2 notification has about
// thirty fields and fits in 4 KB.
const (
	maxNotifyXMLBytes  = 1 << 20
	maxNotifyXMLFields = 200
)

// errXMLDuplicate is a field that appears more than once.
var errXMLDuplicate = errors.New("xml: a field appears twice")

// notifyXMLLimits: the root, its fields, and one level below them (read
// only to be refused with a clear error).
var notifyXMLLimits = wxxml.Limits{MaxDepth: 3, MaxElements: 1 + maxNotifyXMLFields}

// ParseNotifyXML reads a WeChat Pay v2 XML document from the bytes received:
// one root element named root holding flat child elements whose text (plain
// or CDATA) is returned by element name, exactly as sent (no trimming).
//
// It refuses what WeChat Pay never sends and what XML attacks need: a
// DOCTYPE or any other declaration (so no entity can be declared: XXE and
// entity expansion), processing instructions other than a leading XML
// declaration, references to undeclared entities, encodings other than
// UTF-8, attributes, nested elements, namespaced names, repeated fields,
// text outside the fields, more than one root, and oversize input.
func ParseNotifyXML(data []byte, root string) (map[string]string, error) {
	fields, _, err := readNotifyXML(data, root, false)
	return fields, err
}

// readNotifyXML is ParseNotifyXML, with the fields whose value is empty
// left out when dropEmpty is set (repeated ones are refused all the same);
// hadEmpty reports that there were some.
func readNotifyXML(data []byte, root string, dropEmpty bool) (fields map[string]string, hadEmpty bool, err error) {
	if len(data) > maxNotifyXMLBytes {
		return nil, false, errors.New("xml: document too large")
	}
	// One copy of the document, which nothing changes afterwards: the
	// names and texts share it, and the element tree stays in the reader's
	// scratch.
	err = notifyXMLLimits.VisitOwned(bytes.Clone(data), func(doc *wxxml.Element) error {
		fields, hadEmpty, err = notifyFields(doc, root, dropEmpty)
		return err
	})
	if err != nil {
		var v *visitError
		if errors.As(err, &v) {
			return nil, false, v.err
		}
		return nil, false, notifyXMLError(err)
	}
	return fields, hadEmpty, nil
}

// readNotifyXMLSorted reads the document as ParseNotifyXML does, with the
// same refusals, and appends its fields to *out sorted by name (empty
// values kept): no map is built.
func readNotifyXMLSorted(data []byte, root string, out *[]payevent.Field) error {
	if len(data) > maxNotifyXMLBytes {
		return errors.New("xml: document too large")
	}
	err := notifyXMLLimits.VisitOwned(bytes.Clone(data), func(doc *wxxml.Element) error {
		if doc.Name != root || len(doc.Children) == 0 {
			_, _, err := notifyFields(doc, root, false)
			return err
		}
		start := len(*out)
		for i := range doc.Children {
			f := &doc.Children[i]
			if len(f.Children) > 0 || strings.IndexByte(f.Name, ':') >= 0 {
				// notifyFields names the first refused field.
				_, _, err := notifyFields(doc, root, false)
				return err
			}
			*out = append(*out, payevent.Field{Name: f.Name, Value: f.Text})
		}
		fields := (*out)[start:]
		slices.SortFunc(fields, func(a, b payevent.Field) int { return strings.Compare(a.Name, b.Name) })
		for i := 1; i < len(fields); i++ {
			if fields[i].Name == fields[i-1].Name {
				// notifyFields names the first repeated field.
				_, _, err := notifyFields(doc, root, false)
				return err
			}
		}
		return nil
	})
	if err != nil {
		var v *visitError
		if errors.As(err, &v) {
			return v.err
		}
		return notifyXMLError(err)
	}
	return nil
}

// visitError is an error of notifyFields, told apart from the reader's.
type visitError struct{ err error }

func (e *visitError) Error() string { return e.err.Error() }

func notifyFields(doc *wxxml.Element, root string, dropEmpty bool) (map[string]string, bool, error) {
	if doc.Name != root {
		return nil, false, &visitError{fmt.Errorf("xml: root element is not <%s>", root)}
	}
	if len(doc.Children) == 0 {
		if strings.TrimLeft(doc.Text, " \t\r\n") != "" {
			return nil, false, &visitError{errors.New("xml: text outside the fields")}
		}
		return map[string]string{}, false, nil
	}
	fields := make(map[string]string, len(doc.Children))
	empty := 0
	for i := range doc.Children {
		f := &doc.Children[i]
		if strings.IndexByte(f.Name, ':') >= 0 {
			return nil, false, &visitError{errors.New("xml: namespaced elements are not allowed")}
		}
		if len(f.Children) > 0 {
			return nil, false, &visitError{fmt.Errorf("xml: field %s holds an element", shortID(f.Name))}
		}
		if _, dup := fields[f.Name]; dup {
			return nil, false, &visitError{fmt.Errorf("%w: %s", errXMLDuplicate, shortID(f.Name))}
		}
		fields[f.Name] = f.Text
		if f.Text == "" {
			empty++
		}
	}
	if dropEmpty && empty > 0 {
		payevent.DropEmpty(fields)
	}
	return fields, empty > 0, nil
}

// notifyXMLError names what the reader refused, without the document.
func notifyXMLError(err error) error {
	switch {
	case errors.Is(err, wxxml.ErrDTD):
		return errors.New("xml: DOCTYPE and other declarations are not allowed")
	case errors.Is(err, wxxml.ErrTooLarge):
		return errors.New("xml: too many fields, or a field holds nested elements")
	}
	// The reader's message names at most an offset and element names
	// (ASCII letters, digits and _-.:), bounded here.
	return errors.New("xml: " + payevent.Short(strings.TrimPrefix(err.Error(), "wxxml: "), 120))
}
