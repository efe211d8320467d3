package kernelspec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
)

// The logo is the project's own drawing: a white "py" glyph, whose p has a
// yellow snake's eye, on a rounded wasm-purple square. It is described once,
// in a 64x64 design space, and both rendered to PNG and written as SVG.

var (
	purple = color.NRGBA{0x65, 0x4f, 0xf0, 0xff}
	white  = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	yellow = color.NRGBA{0xff, 0xd4, 0x3b, 0xff}
)

type shapeKind int

const (
	squareShape shapeKind = iota // the whole 64x64 canvas, corner radius r
	strokeShape                  // segment (x1,y1)-(x2,y2), round caps, half-width r
	ringShape                    // circle at (x1,y1), radius x2, half-width r
	discShape                    // filled circle at (x1,y1), radius r
)

type shape struct {
	kind           shapeKind
	x1, y1, x2, y2 float64
	r              float64
	col            color.NRGBA
}

const (
	logoSize   = 64.0
	strokeHalf = 3.0
)

var logoShapes = []shape{
	{kind: squareShape, r: 12, col: purple},
	{kind: strokeShape, x1: 14, y1: 17, x2: 14, y2: 47, r: strokeHalf, col: white},   // p stem
	{kind: ringShape, x1: 22.5, y1: 25.5, x2: 8.5, r: strokeHalf, col: white},        // p bowl
	{kind: strokeShape, x1: 36, y1: 17, x2: 43, y2: 34, r: strokeHalf, col: white},   // y left arm
	{kind: strokeShape, x1: 50, y1: 17, x2: 40.5, y2: 43, r: strokeHalf, col: white}, // y right arm
	{kind: strokeShape, x1: 40.5, y1: 43, x2: 34, y2: 47, r: strokeHalf, col: white}, // y tail
	{kind: discShape, x1: 22.5, y1: 25.5, r: 2.8, col: yellow},                       // the eye
}

// inside reports whether design-space point (x, y) is in s.
func (s shape) inside(x, y float64) bool {
	switch s.kind {
	case squareShape:
		h := logoSize / 2
		dx := math.Max(math.Abs(x-h)-(h-s.r), 0)
		dy := math.Max(math.Abs(y-h)-(h-s.r), 0)
		return x >= 0 && y >= 0 && x <= logoSize && y <= logoSize && math.Hypot(dx, dy) <= s.r
	case strokeShape:
		vx, vy := s.x2-s.x1, s.y2-s.y1
		t := ((x-s.x1)*vx + (y-s.y1)*vy) / (vx*vx + vy*vy)
		t = math.Max(0, math.Min(1, t))
		return math.Hypot(x-(s.x1+t*vx), y-(s.y1+t*vy)) <= s.r
	case ringShape:
		return math.Abs(math.Hypot(x-s.x1, y-s.y1)-s.x2) <= s.r
	case discShape:
		return math.Hypot(x-s.x1, y-s.y1) <= s.r
	}
	return false
}

// LogoPNG renders the logo as a size x size PNG, anti-aliased by
// supersampling.
func LogoPNG(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("logo size %d: must be positive", size)
	}
	const ss = 6 // samples per pixel side
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := logoSize / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64 // premultiplied, 0..1
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) * scale
					y := (float64(py) + (float64(sy)+0.5)/ss) * scale
					// Topmost shape covering the sample wins (all are opaque).
					for i := len(logoShapes) - 1; i >= 0; i-- {
						s := logoShapes[i]
						if s.inside(x, y) {
							r += float64(s.col.R) / 255
							g += float64(s.col.G) / 255
							b += float64(s.col.B) / 255
							a++
							break
						}
					}
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a * 255)),
				G: uint8(math.Round(g / a * 255)),
				B: uint8(math.Round(b / a * 255)),
				A: uint8(math.Round(a / (ss * ss) * 255)),
			})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode %dx%d logo: %w", size, size, err)
	}
	return buf.Bytes(), nil
}

// LogoSVG is the logo as SVG.
func LogoSVG() []byte {
	var b strings.Builder
	hex := func(c color.NRGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
	num := func(f float64) string { return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".") }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">`+"\n")
	b.WriteString("  <title>wasmpy</title>\n")
	for _, s := range logoShapes {
		switch s.kind {
		case squareShape:
			fmt.Fprintf(&b, `  <rect width="64" height="64" rx="%s" fill="%s"/>`+"\n", num(s.r), hex(s.col))
		case strokeShape:
			fmt.Fprintf(&b, `  <line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s" stroke-linecap="round"/>`+"\n",
				num(s.x1), num(s.y1), num(s.x2), num(s.y2), hex(s.col), num(2*s.r))
		case ringShape:
			fmt.Fprintf(&b, `  <circle cx="%s" cy="%s" r="%s" fill="none" stroke="%s" stroke-width="%s"/>`+"\n",
				num(s.x1), num(s.y1), num(s.x2), hex(s.col), num(2*s.r))
		case discShape:
			fmt.Fprintf(&b, `  <circle cx="%s" cy="%s" r="%s" fill="%s"/>`+"\n", num(s.x1), num(s.y1), num(s.r), hex(s.col))
		}
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// Logos returns the logo files of a kernel spec directory by name.
func Logos() map[string][]byte {
	out := map[string][]byte{"logo-svg.svg": LogoSVG()}
	for _, n := range []int{32, 64} {
		data, err := LogoPNG(n)
		if err != nil {
			panic(err) // sizes are constant and positive; encoding to memory cannot fail
		}
		out[fmt.Sprintf("logo-%dx%d.png", n, n)] = data
	}
	return out
}
