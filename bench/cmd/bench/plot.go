package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// series style per variant: colour and dash.
var styles = map[string]struct{ color, dash string }{
	"peer-100ms":    {"#1f77b4", ""},
	"peer-100ms-ff": {"#17becf", ""},
	"peer-default":  {"#1f77b4", "6 4"},
	"ml-tuned":      {"#d62728", ""},
	"ml-local":      {"#d62728", "6 4"},
}

// plot draws two panels, removal latency and formation time against N, p50
// points joined by lines with a whisker up to the max, on log-log axes.
func (r *Results) plot(w io.Writer) {
	const (
		pw, ph        = 430, 300 // panel plot area
		left, top     = 70, 50
		gap           = 110
		width, height = left + 2*pw + gap + 30, top + ph + 150
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">peer vs hashicorp/memberlist, one process per node on loopback (%d CPUs)</text>`+"\n", left, r.Machine.CPUs)

	panels := []struct {
		title string
		get   func(*Cell) []float64
	}{
		{"removal: kill -9 of a non-leader → every survivor's view without it", func(c *Cell) []float64 { return c.Removal }},
		{"formation: N processes started at once → every one has all N", func(c *Cell) []float64 { return c.Formation }},
	}
	ns := r.Ns
	xmin, xmax := math.Log2(float64(ns[0]))-0.3, math.Log2(float64(ns[len(ns)-1]))+0.3
	for pi, panel := range panels {
		x0 := left + pi*(pw+gap)
		// y range over every sample of the panel, in whole decades.
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, c := range r.Cells {
			for _, v := range panel.get(c) {
				if v > 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		if math.IsInf(lo, 0) {
			lo, hi = 1, 1000
		}
		ylo, yhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if yhi <= ylo {
			yhi = ylo + 1
		}
		px := func(n int) float64 { return float64(x0) + (math.Log2(float64(n))-xmin)/(xmax-xmin)*pw }
		py := func(v float64) float64 { return float64(top) + (yhi-math.Log10(v))/(yhi-ylo)*ph }

		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12.5">%s</text>`+"\n", x0, top-10, html.EscapeString(panel.title))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0, top, pw, ph)
		for d := ylo; d <= yhi; d++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, d)
				if math.Log10(v) > yhi+1e-9 {
					break
				}
				y := py(v)
				stroke, sw := "#eee", 1.0
				if m == 1 {
					stroke = "#ccc"
				}
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`+"\n", x0, y, x0+pw, y, stroke, sw)
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#444">%s</text>`+"\n", x0-6, y, axisMS(v))
			}
		}
		for _, n := range ns {
			x := px(n)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, top, x, top+ph)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%d</text>`+"\n", x, top+ph+16, n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">N (processes)</text>`+"\n", x0+pw/2, top+ph+34)
		fmt.Fprintf(&b, `<text transform="translate(%d %d) rotate(-90)" text-anchor="middle">p50, whisker to max (log scale)</text>`+"\n", x0-60, top+ph/2)

		for vi, v := range allVariants() {
			st := styles[v.Key]
			var pts []string
			for _, n := range ns {
				c := r.cell(v.Key, n)
				if c != nil && len(panel.get(c)) == 0 && len(c.Errors) > 0 {
					// Did not hold: a cross on the top edge.
					x, y := px(n)+float64(11*vi-22), float64(top)+8
					fmt.Fprintf(&b, `<path d="M%.1f %.1fl8 8m0 -8l-8 8" stroke="%s" stroke-width="2"/>`+"\n", x-4, y-4, st.color)
				}
				if c == nil || len(panel.get(c)) == 0 {
					continue
				}
				xs := panel.get(c)
				x, y, ym := px(n), py(p50(xs)), py(maxOf(xs))
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`+"\n", x, y, x, ym, st.color)
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x, y, st.color)
			}
			if len(pts) > 1 {
				dash := ""
				if st.dash != "" {
					dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
				}
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), st.color, dash)
			}
		}
	}
	// Legend, below both panels.
	ly := top + ph + 60
	for i, v := range allVariants() {
		st := styles[v.Key]
		x := left + (i%3)*300
		y := ly + (i/3)*22
		dash := ""
		if st.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, st.dash)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, y, x+30, y, st.color, dash)
		fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="3.5" fill="%s"/>`+"\n", x+15, y, st.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", x+38, y, html.EscapeString(v.Label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666" font-size="11">%s</text>`+"\n", left, ly+52,
		html.EscapeString(fmt.Sprintf("× on the top edge: that group size did not hold on this machine (see the table). %s, %d CPUs; up to %d trials per point; drawn by bench/cmd/bench",
			r.Machine.Model, r.Machine.CPUs, r.Trials)))
	b.WriteString("</svg>\n")
	io.WriteString(w, b.String())
}

func axisMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%g s", v/1000)
	case v >= 1:
		return fmt.Sprintf("%g ms", v)
	default:
		return fmt.Sprintf("%g µs", v*1000)
	}
}
