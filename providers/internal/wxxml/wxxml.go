// Package wxxml reads the small, flat XML documents WeChat and WeChat Pay
// send (`<xml><ToUserName><![CDATA[…]]></ToUserName>…</xml>`) in one pass,
// without reflection, bounded in depth and element count.
//
// It reads elements, character data, CDATA sections, the five predefined
// entities and character references, comments, and an XML declaration that
// names UTF-8 (or no encoding). It refuses everything else a WeChat document
// never contains and an attacker might: a DOCTYPE or ENTITY declaration
// (ErrDTD), processing instructions, attributes, mixed content (text beside
// child elements), non-ASCII element names, invalid UTF-8 and characters
// outside XML's range. What it accepts, encoding/xml reads the same way:
// the same elements, and for every leaf the same text.
package wxxml

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors returned by Parse wrap one of these (test with errors.Is).
var (
	// ErrDTD: the document has a <!DOCTYPE …>, <!ENTITY …> or another
	// markup declaration.
	ErrDTD = errors.New("wxxml: DOCTYPE and ENTITY declarations are refused")
	// ErrSyntax: the document is not XML, or uses XML this reader refuses
	// (attributes, processing instructions, mixed content, …).
	ErrSyntax = errors.New("wxxml: malformed or unsupported XML")
	// ErrTooLarge: the document is nested deeper or has more elements than
	// the Limits allow.
	ErrTooLarge = errors.New("wxxml: document over the limits")
)

// Element is one XML element. A leaf has no Children and its text in Text:
// entities decoded, CDATA sections unwrapped, line ends normalised to "\n",
// surrounding whitespace kept. An element with children has Text "" (the
// whitespace between its children is dropped).
type Element struct {
	Name     string
	Text     string
	Children []Element
}

// Child returns the first child named name, or nil.
func (e *Element) Child(name string) *Element {
	for i := range e.Children {
		if e.Children[i].Name == name {
			return &e.Children[i]
		}
	}
	return nil
}

// Limits bound what Parse accepts besides the document's size, which the
// caller bounds before reading.
type Limits struct {
	// MaxDepth is the deepest nesting accepted, the root being 1 (default 16).
	MaxDepth int
	// MaxElements is the most elements accepted in all (default 4096).
	MaxElements int
}

// Parse reads doc with the default Limits and returns its root element.
func Parse(doc []byte) (*Element, error) { return Limits{}.Parse(doc) }

// Parse reads doc, which must be one root element with optional leading
// XML declaration, comments and whitespace around it, and returns the root.
func (l Limits) Parse(doc []byte) (*Element, error) {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 4096
	}
	// One copy of the document: every name and most texts are substrings
	// of it, so a typical push costs a handful of allocations.
	p := parser{s: string(doc), lim: l}
	if err := p.prolog(); err != nil {
		return nil, err
	}
	if p.pos >= len(p.s) || p.s[p.pos] != '<' {
		return nil, p.fail("want the root element")
	}
	root := new(Element)
	if err := p.element(root, 1); err != nil {
		return nil, err
	}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.pos < len(p.s) {
		return nil, p.fail("data after the root element")
	}
	return root, nil
}

type parser struct {
	s     string
	pos   int
	n     int // elements read
	lim   Limits
	buf   []byte // scratch for texts that need decoding
	texts []span // the current element's text pieces (reused)
}

// span is a piece of text: s[start:end], raw (CDATA) or to be decoded.
type span struct {
	start, end int
	cdata      bool
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, p.pos)
}

// prolog reads an optional XML declaration, then misc.
func (p *parser) prolog() error {
	if strings.HasPrefix(p.s, "<?xml") && len(p.s) > 5 && isSpace(p.s[5]) {
		end := strings.Index(p.s, "?>")
		if end < 0 {
			return p.fail("unterminated XML declaration")
		}
		decl := p.s[5:end]
		if v, ok := declParam(decl, "version"); ok && v != "1.0" {
			return p.fail("unsupported XML version")
		}
		if v, ok := declParam(decl, "encoding"); ok && !strings.EqualFold(v, "utf-8") {
			return p.fail("only UTF-8 documents are read")
		}
		p.pos = end + 2
	}
	return p.misc()
}

// declParam returns the quoted value of name="…" in an XML declaration
// (present with ok true even when malformed, so that it is refused).
func declParam(decl, name string) (string, bool) {
	i := strings.Index(decl, name)
	if i < 0 {
		return "", false
	}
	v := strings.TrimLeft(decl[i+len(name):], " \t\r\n")
	if !strings.HasPrefix(v, "=") {
		return "?", true
	}
	v = strings.TrimLeft(v[1:], " \t\r\n")
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return "?", true
	}
	end := strings.IndexByte(v[1:], v[0])
	if end < 0 {
		return "?", true
	}
	return v[1 : 1+end], true
}

// misc skips whitespace and comments; it refuses declarations and
// processing instructions.
func (p *parser) misc() error {
	for {
		for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
			p.pos++
		}
		rest := p.s[p.pos:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<!"):
			return fmt.Errorf("%w (offset %d)", ErrDTD, p.pos)
		case strings.HasPrefix(rest, "<?"):
			return p.fail("processing instructions are refused")
		default:
			return nil
		}
	}
}

// comment skips <!-- … -->; "--" inside is refused, as XML says.
func (p *parser) comment() error {
	body := p.s[p.pos+4:]
	end := strings.Index(body, "--")
	if end < 0 || !strings.HasPrefix(body[end:], "-->") {
		return p.fail("bad comment")
	}
	if err := p.checkChars(p.pos+4, p.pos+4+end); err != nil {
		return err
	}
	p.pos += 4 + end + 3
	return nil
}

// element reads one element starting at '<' into e.
func (p *parser) element(e *Element, depth int) error {
	if depth > p.lim.MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, p.lim.MaxDepth)
	}
	if p.n++; p.n > p.lim.MaxElements {
		return fmt.Errorf("%w: more than %d elements", ErrTooLarge, p.lim.MaxElements)
	}
	p.pos++ // '<'
	name, err := p.name()
	if err != nil {
		return err
	}
	e.Name = name
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
	if strings.HasPrefix(p.s[p.pos:], "/>") {
		p.pos += 2
		return nil
	}
	if p.pos >= len(p.s) || p.s[p.pos] != '>' {
		return p.fail("attributes are not read")
	}
	p.pos++

	mark := len(p.texts)
	defer func() { p.texts = p.texts[:mark] }()
	blank := true // no text but whitespace so far
	for {
		i := strings.IndexByte(p.s[p.pos:], '<')
		if i < 0 {
			return p.fail("unterminated element <" + name + ">")
		}
		if i > 0 {
			if strings.Contains(p.s[p.pos:p.pos+i], "]]>") {
				return p.fail("]]> in text")
			}
			p.texts = append(p.texts, span{p.pos, p.pos + i, false})
			if blank && !isBlank(p.s[p.pos:p.pos+i]) {
				blank = false
			}
			p.pos += i
		}
		rest := p.s[p.pos:]
		switch {
		case strings.HasPrefix(rest, "</"):
			p.pos += 2
			end, err := p.name()
			if err != nil {
				return err
			}
			if end != name {
				return p.fail("</" + end + "> closes <" + name + ">")
			}
			for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
				p.pos++
			}
			if p.pos >= len(p.s) || p.s[p.pos] != '>' {
				return p.fail("bad end tag")
			}
			p.pos++
			if len(e.Children) > 0 {
				if !blank {
					return p.fail("text beside child elements in <" + name + ">")
				}
				return nil
			}
			e.Text, err = p.text(p.texts[mark:])
			return err
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return p.fail("unterminated CDATA section")
			}
			p.texts = append(p.texts, span{p.pos + 9, p.pos + 9 + end, true})
			if end > 0 {
				blank = false
			}
			p.pos += 9 + end + 3
		case strings.HasPrefix(rest, "<!--"):
			if err := p.comment(); err != nil {
				return err
			}
		case strings.HasPrefix(rest, "<!"):
			return fmt.Errorf("%w (offset %d)", ErrDTD, p.pos)
		case strings.HasPrefix(rest, "<?"):
			return p.fail("processing instructions are refused")
		default:
			e.Children = append(e.Children, Element{})
			if err := p.element(&e.Children[len(e.Children)-1], depth+1); err != nil {
				return err
			}
		}
	}
}

// name reads an element name: ASCII letters, digits, '_', '-', '.', ':',
// not starting with a digit, '-' or '.'.
func (p *parser) name() (string, error) {
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if isLetter(c) || c == '_' || c == ':' || (p.pos > start && (isDigit(c) || c == '-' || c == '.')) {
			p.pos++
			continue
		}
		break
	}
	if p.pos == start {
		return "", p.fail("want an element name")
	}
	return p.s[start:p.pos], nil
}

// text joins an element's text pieces: one piece that needs no decoding is
// returned as a substring of the document.
func (p *parser) text(pieces []span) (string, error) {
	if len(pieces) == 0 {
		return "", nil
	}
	if len(pieces) == 1 {
		sp := pieces[0]
		if plain, err := p.plain(sp); err != nil || plain {
			return p.s[sp.start:sp.end], err
		}
	}
	p.buf = p.buf[:0]
	for _, sp := range pieces {
		if err := p.checkChars(sp.start, sp.end); err != nil {
			return "", err
		}
		if err := p.decode(sp); err != nil {
			return "", err
		}
	}
	return string(p.buf), nil
}

// plain checks a piece's characters and reports whether it is its own text
// (no entity, no carriage return).
func (p *parser) plain(sp span) (bool, error) {
	if err := p.checkChars(sp.start, sp.end); err != nil {
		return false, err
	}
	chunk := p.s[sp.start:sp.end]
	if strings.IndexByte(chunk, '\r') >= 0 {
		return false, nil
	}
	return sp.cdata || strings.IndexByte(chunk, '&') < 0, nil
}

// decode appends a piece to p.buf: "\r\n" and "\r" become "\n", and outside
// CDATA the entities are replaced.
func (p *parser) decode(sp span) error {
	s := p.s[sp.start:sp.end]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r':
			p.buf = append(p.buf, '\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case c == '&' && !sp.cdata:
			end := strings.IndexByte(s[i:], ';')
			if end < 0 {
				p.pos = sp.start + i
				return p.fail("unterminated entity")
			}
			r, ok := entity(s[i+1 : i+end])
			if !ok {
				p.pos = sp.start + i
				return p.fail("unknown entity")
			}
			p.buf = utf8.AppendRune(p.buf, r)
			i += end
		default:
			p.buf = append(p.buf, c)
		}
	}
	return nil
}

// entity resolves the name between '&' and ';'.
func entity(name string) (rune, bool) {
	switch name {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" || len(digits) > 8 {
		return 0, false
	}
	var r rune
	for i := 0; i < len(digits); i++ {
		d := rune(hexVal(digits[i]))
		if d >= base {
			return 0, false
		}
		r = r*base + d
	}
	return r, isXMLChar(r)
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// checkChars refuses invalid UTF-8 and characters outside XML's range in
// s[start:end], as encoding/xml does.
func (p *parser) checkChars(start, end int) error {
	for i := start; i < end; {
		c := p.s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				p.pos = i
				return p.fail("control character")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(p.s[i:end])
		if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
			p.pos = i
			return p.fail("invalid UTF-8 or character")
		}
		i += size
	}
	return nil
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}
