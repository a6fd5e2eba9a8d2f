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
	"sync"
	"unicode/utf8"
	"unsafe"
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

// VisitOwned is Limits.VisitOwned with the default Limits.
func VisitOwned(doc []byte, fn func(root *Element) error) error {
	return Limits{}.VisitOwned(doc, fn)
}

// Leaf is Limits.Leaf with the default Limits.
func Leaf(doc []byte, name string) (text string, found bool, err error) {
	return Limits{}.Leaf(doc, name)
}

// LeafOwned is Limits.LeafOwned with the default Limits.
func LeafOwned(doc []byte, name string) (text string, found bool, err error) {
	return Limits{}.LeafOwned(doc, name)
}

// Parse reads doc, which must be one root element with optional leading
// XML declaration, comments and whitespace around it, and returns the root.
func (l Limits) Parse(doc []byte) (*Element, error) {
	// One copy of the document: every name and most texts are substrings
	// of it. The parser's scratch is pooled, and each element's children
	// are gathered there and copied out once, so a flat push costs two
	// allocations: the copy, and the root with its children.
	return l.parse(string(doc))
}

// VisitOwned reads doc as Parse does, without copying it (the names and
// texts share doc's memory, so doc must never change afterwards: it is for
// a buffer the caller made and hands over, such as a message it has just
// decrypted), and calls fn with the root. The
// element tree lives in the reader's pooled scratch and is reused once fn
// returns: fn must keep no *Element and no Children slice (the names and
// texts, which share doc's memory, it may keep). Reading a document this
// way allocates nothing. It returns the reader's error, or fn's.
func (l Limits) VisitOwned(doc []byte, fn func(root *Element) error) error {
	p := parsers.Get().(*parser)
	defer p.release()
	p.visit = true
	root, err := p.document(unsafe.String(unsafe.SliceData(doc), len(doc)), l)
	if err != nil {
		return err
	}
	p.rootEl = root
	return fn(&p.rootEl)
}

func (l Limits) parse(doc string) (*Element, error) {
	p := parsers.Get().(*parser)
	defer p.release()
	root, err := p.document(doc, l)
	if err != nil {
		return nil, err
	}
	r := p.root
	if r == nil {
		r = new(Element)
	}
	*r = root
	return r, nil
}

// Leaf reads doc as Parse does, with every refusal the same, and returns
// the text of the root's first child named name when that child is a leaf
// (found is false when there is none). The root's other children are read
// and checked but not kept: reading a document for one field costs one
// allocation.
func (l Limits) Leaf(doc []byte, name string) (text string, found bool, err error) {
	return l.leaf(string(doc), name)
}

// LeafOwned is Leaf without the copy of the document: the text shares
// doc's memory, so it must not be used once doc changes (it is for a text
// used at once, such as a signature's input).
func (l Limits) LeafOwned(doc []byte, name string) (text string, found bool, err error) {
	return l.leaf(unsafe.String(unsafe.SliceData(doc), len(doc)), name)
}

func (l Limits) leaf(doc, name string) (string, bool, error) {
	p := parsers.Get().(*parser)
	defer p.release()
	p.want, p.leafOnly = name, true
	if _, err := p.document(doc, l); err != nil {
		return "", false, err
	}
	return p.leafText, p.found, nil
}

// document reads doc's prolog, root element and trailing misc.
func (p *parser) document(doc string, l Limits) (Element, error) {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 4096
	}
	p.s, p.pos, p.n, p.lim = doc, 0, 0, l
	if err := p.prolog(); err != nil {
		return Element{}, err
	}
	if p.pos >= len(p.s) || p.s[p.pos] != '<' {
		return Element{}, p.fail("want the root element")
	}
	root, err := p.element(1)
	if err != nil {
		return Element{}, err
	}
	if err := p.misc(); err != nil {
		return Element{}, err
	}
	if p.pos < len(p.s) {
		return Element{}, p.fail("data after the root element")
	}
	return root, nil
}

type parser struct {
	s     string
	pos   int
	n     int // elements read
	lim   Limits
	buf   []byte    // scratch for texts that need decoding
	texts []span    // the open elements' text pieces (a stack)
	kids  []Element // the open elements' children so far (a stack)
	root  *Element  // where Parse puts the root, allocated with its children

	// Visit mode: every element's children in arena, the root in rootEl.
	visit  bool
	arena  []Element
	rootEl Element

	// Leaf mode: the root's children are not kept; the first leaf named
	// want is.
	leafOnly bool
	want     string
	found    bool
	leafText string
}

var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxPooledScratch bounds the scratch a pooled parser keeps: a huge
// document's does not stay in memory.
const maxPooledScratch = 256

// release clears the parser (it must not keep the document or its
// strings alive) and pools it.
func (p *parser) release() {
	if cap(p.kids) > maxPooledScratch || cap(p.arena) > maxPooledScratch || cap(p.texts) > maxPooledScratch || cap(p.buf) > 64<<10 {
		return
	}
	clear(p.kids[:cap(p.kids)])
	clear(p.arena[:cap(p.arena)])
	*p = parser{kids: p.kids[:0], arena: p.arena[:0], texts: p.texts[:0], buf: p.buf[:0]}
	parsers.Put(p)
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

// element reads one element starting at '<'. It returns the element by
// value: a child is built on the stack and copied into its parent's
// children, never allocated on its own.
func (p *parser) element(depth int) (Element, error) {
	var e Element
	if depth > p.lim.MaxDepth {
		return e, fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, p.lim.MaxDepth)
	}
	if p.n++; p.n > p.lim.MaxElements {
		return e, fmt.Errorf("%w: more than %d elements", ErrTooLarge, p.lim.MaxElements)
	}
	p.pos++ // '<'
	name, err := p.name()
	if err != nil {
		return e, err
	}
	e.Name = name
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
	if strings.HasPrefix(p.s[p.pos:], "/>") {
		p.pos += 2
		return e, nil
	}
	if p.pos >= len(p.s) || p.s[p.pos] != '>' {
		return e, p.fail("attributes are not read")
	}
	p.pos++

	// The scratch stacks are cut back to mark and kidMark on success; after
	// an error the parser is reset as a whole.
	mark, kidMark := len(p.texts), len(p.kids)
	blank := true // no text but whitespace so far
	children := 0
	for {
		i := strings.IndexByte(p.s[p.pos:], '<')
		if i < 0 {
			return e, p.fail("unterminated element <" + name + ">")
		}
		if i > 0 {
			if strings.Contains(p.s[p.pos:p.pos+i], "]]>") {
				return e, p.fail("]]> in text")
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
				return e, err
			}
			if end != name {
				return e, p.fail("</" + end + "> closes <" + name + ">")
			}
			for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
				p.pos++
			}
			if p.pos >= len(p.s) || p.s[p.pos] != '>' {
				return e, p.fail("bad end tag")
			}
			p.pos++
			if children > 0 {
				if !blank {
					return e, p.fail("text beside child elements in <" + name + ">")
				}
				if kids := p.kids[kidMark:]; len(kids) > 0 && p.visit {
					// Visit: the children live in the pooled arena.
					start := len(p.arena)
					p.arena = append(p.arena, kids...)
					e.Children = p.arena[start:len(p.arena):len(p.arena)]
				} else if len(kids) > 0 && depth == 1 && !p.leafOnly {
					// The root and its children in one allocation.
					all := make([]Element, 1+len(kids))
					copy(all[1:], kids)
					e.Children, p.root = all[1:], &all[0]
				} else if len(kids) > 0 {
					e.Children = make([]Element, len(kids))
					copy(e.Children, kids)
				}
				p.texts, p.kids = p.texts[:mark], p.kids[:kidMark]
				return e, nil
			}
			e.Text, err = p.text(p.texts[mark:])
			p.texts = p.texts[:mark]
			return e, err
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return e, p.fail("unterminated CDATA section")
			}
			p.texts = append(p.texts, span{p.pos + 9, p.pos + 9 + end, true})
			if end > 0 {
				blank = false
			}
			p.pos += 9 + end + 3
		case strings.HasPrefix(rest, "<!--"):
			if err := p.comment(); err != nil {
				return e, err
			}
		case strings.HasPrefix(rest, "<!"):
			return e, fmt.Errorf("%w (offset %d)", ErrDTD, p.pos)
		case strings.HasPrefix(rest, "<?"):
			return e, p.fail("processing instructions are refused")
		default:
			c, err := p.element(depth + 1)
			if err != nil {
				return e, err
			}
			children++
			if p.leafOnly && depth == 1 {
				if !p.found && c.Name == p.want && c.Children == nil {
					p.found, p.leafText = true, c.Text
				}
				continue
			}
			p.kids = append(p.kids, c)
		}
	}
}

// name reads an element name: ASCII letters, digits, '_', '-', '.', not
// starting with a digit, '-' or '.'. No ':': WeChat's documents use no
// namespaces, and encoding/xml would read a prefixed name as another one.
func (p *parser) name() (string, error) {
	start := p.pos
	if p.pos < len(p.s) && nameChars[p.s[p.pos]] == nameStart {
		p.pos++
		for p.pos < len(p.s) && nameChars[p.s[p.pos]] != 0 {
			p.pos++
		}
	}
	if p.pos == start {
		return "", p.fail("want an element name")
	}
	return p.s[start:p.pos], nil
}

// nameChars classifies the bytes of element names: nameStart may begin a
// name (letters, '_'), nameRest only continue one (digits, '-', '.').
var nameChars = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch b := byte(c); {
		case isLetter(b) || b == '_':
			t[c] = nameStart
		case isDigit(b) || b == '-' || b == '.':
			t[c] = nameRest
		}
	}
	return t
}()

const (
	nameStart = 1
	nameRest  = 2
)

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
