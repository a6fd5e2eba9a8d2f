package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"
)

type codeKind int

const (
	qrcodeKind    codeKind = iota // /cgi-bin/wxaapp/createwxaqrcode: path ≤ 128 bytes
	wxacodeKind                   // /wxa/getwxacode: path ≤ 1024 bytes
	unlimitedKind                 // /wxa/getwxacodeunlimit: scene ≤ 32 chars, page
)

// sceneChars are the characters WeChat allows in a scene.
const sceneChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$&'()*+,/:;=?@-._~"

// wxacode answers a code request with a real PNG: a QR-looking pattern
// derived from the app and the request, width×width pixels (430 by default,
// 280…1280), in line_color (or a color of its own with auto_color), on white
// or, with is_hyaline, on a transparent background. Bad parameters get
// WeChat's JSON errors.
func (x *weixin) wxacode(kind codeKind) func(*wxCall) {
	return func(c *wxCall) {
		var seed string
		switch kind {
		case qrcodeKind, wxacodeKind:
			limit := 1024
			if kind == qrcodeKind {
				limit = 128
			}
			p := c.str("path")
			if p == "" || len(p) > limit {
				c.fail(40159, "invalid length for path, or the data is not json string")
				return
			}
			seed = "path\x00" + p
		case unlimitedKind:
			scene, page := c.str("scene"), c.str("page")
			if scene == "" || len(scene) > 32 || strings.Trim(scene, sceneChars) != "" {
				c.fail(40169, "invalid length for scene, or the data is not json string")
				return
			}
			if strings.HasPrefix(page, "/") || strings.Contains(page, "?") {
				c.fail(41030, "invalid page")
				return
			}
			switch c.str("env_version") {
			case "", "release", "trial", "develop":
			default:
				c.fail(40097, "invalid args")
				return
			}
			seed = "scene\x00" + scene + "\x00" + page
		}
		width := 430
		if w := c.str("width"); w != "" {
			n, err := strconv.Atoi(w)
			if err != nil {
				c.fail(47001, "data format error")
				return
			}
			width = min(max(n, 280), 1280)
		}
		fg := color.NRGBA{A: 255}
		if lc, ok := c.body["line_color"].(map[string]any); ok {
			fg = color.NRGBA{R: colorByte(str(lc, "r")), G: colorByte(str(lc, "g")), B: colorByte(str(lc, "b")), A: 255}
		}
		if auto, _ := c.body["auto_color"].(bool); auto {
			h := digest(c.appid, seed, "color")
			fg = color.NRGBA{R: uint8(h) & 0x7f, G: uint8(h>>8) & 0x7f, B: uint8(h>>16) & 0x7f, A: 255}
		}
		bg := color.NRGBA{R: 255, G: 255, B: 255, A: 255}
		if hyaline, _ := c.body["is_hyaline"].(bool); hyaline {
			bg = color.NRGBA{R: 255, G: 255, B: 255}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, renderCode(c.appid+"\x00"+seed, width, fg, bg)); err != nil {
			c.fail(-1, "system error")
			return
		}
		h := c.w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(buf.Bytes())
	}
}

func colorByte(s string) uint8 {
	n, _ := strconv.Atoi(s)
	return uint8(min(max(n, 0), 255))
}

// renderCode draws a version-3-sized QR-looking symbol (29×29 modules with
// finder, timing and alignment patterns, data modules from seed) with a
// two-module quiet zone, scaled to width×width pixels.
func renderCode(seed string, width int, fg, bg color.Color) *image.Paletted {
	const n, quiet = 29, 2
	const cells = n + 2*quiet
	var dark [n][n]bool
	// Data modules from a SHA-256 stream of seed.
	var stream []byte
	for i := uint32(0); len(stream)*8 < n*n; i++ {
		var ctr [4]byte
		binary.BigEndian.PutUint32(ctr[:], i)
		sum := sha256.Sum256(append([]byte(seed), ctr[:]...))
		stream = append(stream, sum[:]...)
	}
	for i := 0; i < n*n; i++ {
		dark[i/n][i%n] = stream[i/8]>>(i%8)&1 == 1
	}
	// Timing patterns.
	for i := 0; i < n; i++ {
		dark[6][i], dark[i][6] = i%2 == 0, i%2 == 0
	}
	// Finder patterns with their light separators, and the alignment pattern.
	square := func(cy, cx, r int, ring func(d int) bool) {
		for y := cy - r; y <= cy+r; y++ {
			for x := cx - r; x <= cx+r; x++ {
				if y >= 0 && y < n && x >= 0 && x < n {
					dark[y][x] = ring(max(abs(y-cy), abs(x-cx)))
				}
			}
		}
	}
	finder := func(d int) bool { return d == 3 || d <= 1 }
	square(3, 3, 4, finder)
	square(3, n-4, 4, finder)
	square(n-4, 3, 4, finder)
	square(n-7, n-7, 2, func(d int) bool { return d != 1 })

	img := image.NewPaletted(image.Rect(0, 0, width, width), color.Palette{bg, fg})
	row := make([]uint8, width)
	for y := 0; y < width; y++ {
		cy := y*cells/width - quiet
		for x := range row {
			cx := x*cells/width - quiet
			row[x] = 0
			if cy >= 0 && cy < n && cx >= 0 && cx < n && dark[cy][cx] {
				row[x] = 1
			}
		}
		copy(img.Pix[y*img.Stride:], row)
	}
	return img
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// upscale2 doubles an image's size (nearest neighbour), what
// /cv/img/superresolution promises.
func upscale2(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, 2*b.Dx(), 2*b.Dy()))
	for y := 0; y < 2*b.Dy(); y++ {
		for x := 0; x < 2*b.Dx(); x++ {
			dst.Set(x, y, src.At(b.Min.X+x/2, b.Min.Y+y/2))
		}
	}
	return dst
}
