package push

import (
	"bytes"
	"strings"

	"github.com/caddy-unicloud/unicloud/providers/internal/wxxml"
)

// An XML message is turned into the backend's JSON straight from its
// elements: an element with children becomes an object (a name repeated
// under one parent an array, at the place of its first occurrence), a leaf
// its trimmed text, as a number for the numeric leaves.

// numericLeaf reports the XML elements WeChat documents as numbers: their
// text becomes a JSON number when it is a decimal number.
func numericLeaf(name string) bool {
	switch name {
	case "CreateTime", "MsgId", "MsgID", "MsgDataId", "Idx", "errcode", "version",
		"Latitude", "Longitude", "Precision", "Location_X", "Location_Y", "Scale":
		return true
	}
	return false
}

// xmlMessage is parseMessage for an XML message (size bytes long).
func xmlMessage(root *wxxml.Element, size int, encrypted bool) (*Message, error) {
	m := &Message{Format: XML, Encrypted: encrypted}
	if m.MsgType = xmlField(root, "MsgType"); m.MsgType == "" {
		return nil, refuse(CheckMsgType, 400, "no MsgType in the message")
	}
	m.Event = xmlField(root, "Event")
	m.ToUserName = xmlField(root, "ToUserName")
	m.FromUserName = xmlField(root, "FromUserName")

	var out bytes.Buffer
	out.Grow(size) // the JSON of WeChat's XML is shorter than the XML
	writeXMLObject(&out, root, true)
	m.JSON = out.Bytes()
	for _, k := range []string{"MsgId", "MsgID"} {
		if v := xmlField(root, k); isDecimal(v) {
			m.ID = decimalID(v)
			return m, nil
		}
	}
	m.ID = eventID(m.JSON)
	return m, nil
}

// xmlField is the trimmed text of the root's child name when it is a leaf
// that occurs once; "" otherwise.
func xmlField(root *wxxml.Element, name string) string {
	var found *wxxml.Element
	for i := range root.Children {
		if c := &root.Children[i]; c.Name == name {
			if found != nil {
				return "" // repeated: an array
			}
			found = c
		}
	}
	if found == nil || len(found.Children) > 0 {
		return ""
	}
	return strings.TrimSpace(found.Text)
}

// writeXMLObject writes an element with children as a JSON object, keys
// in camelCase; the top level's Encrypt is left out when dropEncrypt.
func writeXMLObject(w *bytes.Buffer, e *wxxml.Element, dropEncrypt bool) {
	w.WriteByte('{')
	first := true
	kids := e.Children
	for i := range kids {
		c := &kids[i]
		if (dropEncrypt && c.Name == "Encrypt") || hasName(kids[:i], c.Name) {
			continue
		}
		if !first {
			w.WriteByte(',')
		}
		first = false
		writePushKey(w, c.Name)
		w.WriteByte(':')
		if !hasName(kids[i+1:], c.Name) {
			writeElementJSON(w, c)
			continue
		}
		w.WriteByte('[')
		writeElementJSON(w, c)
		for j := i + 1; j < len(kids); j++ {
			if kids[j].Name == c.Name {
				w.WriteByte(',')
				writeElementJSON(w, &kids[j])
			}
		}
		w.WriteByte(']')
	}
	w.WriteByte('}')
}

func writeElementJSON(w *bytes.Buffer, e *wxxml.Element) {
	if len(e.Children) > 0 {
		writeXMLObject(w, e, false)
		return
	}
	t := strings.TrimSpace(e.Text)
	if numericLeaf(e.Name) && isNumber(t) {
		w.WriteString(t)
		return
	}
	writeString(w, t)
}

func hasName(els []wxxml.Element, name string) bool {
	for i := range els {
		if els[i].Name == name {
			return true
		}
	}
	return false
}
