package main

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

func TestP50(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := p50(tc.in); got != tc.want {
			t.Errorf("p50(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(p50(nil)) {
		t.Error("p50(nil) is not NaN")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{2.345, "2.35 ms"}, {23.45, "23.4 ms"}, {234.5, "234 ms"}, {2345, "2.35 s"}, {23456, "23.5 s"}, {math.NaN(), "–"},
	} {
		if got := fmtMS(tc.v); got != tc.want {
			t.Errorf("fmtMS(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := fmtRatio(450, 150); got != "×3.00" {
		t.Errorf("fmtRatio = %q", got)
	}
	if got := fmtRatio(1, math.NaN()); got != "–" {
		t.Errorf("fmtRatio of a missing value = %q", got)
	}
}

func fakeResults() *Results {
	r := &Results{Ns: []int{5, 16}, Trials: 2, Machine: Machine{CPUs: 2, Model: "test <cpu>"}}
	for _, v := range allVariants() {
		for _, n := range r.Ns {
			f := float64(n)
			r.Cells = append(r.Cells, &Cell{
				Variant: v.Key, System: v.System, N: n, Trials: 2,
				Formation: []float64{10 * f, 12 * f}, Removal: []float64{200, 210}, Failover: []float64{220, 230},
				RemovalAfter: []float64{1, 2}, FailoverAfter: []float64{3, 4},
				CPU: 1.5, RSS: 7.2, UDP: 150, Window: 5,
			})
		}
	}
	r.Cells[0].Formation = nil // a failed cell
	r.Cells[0].Errors = []string{"trial 1: formation: timed out"}
	return r
}

func TestTableAndTargets(t *testing.T) {
	r := fakeResults()
	var b strings.Builder
	r.table(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if want := 2 + len(r.Ns)*len(metrics); len(lines) != want {
		t.Fatalf("%d table lines, want %d:\n%s", len(lines), want, b.String())
	}
	cols := strings.Count(lines[0], "|")
	for i, l := range lines {
		if strings.Count(l, "|") != cols {
			t.Errorf("line %d has %d cells, header %d: %s", i, strings.Count(l, "|"), cols, l)
		}
	}
	if !strings.Contains(b.String(), "| 5 | formation, p50 / max | failed |") {
		t.Errorf("failed cell not shown:\n%s", b.String())
	}
	r.Targets = r.targets()
	if len(r.Targets) == 0 {
		t.Fatal("no targets")
	}
}

func TestPlotIsSVG(t *testing.T) {
	var b strings.Builder
	fakeResults().plot(&b)
	d := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	if n := strings.Count(b.String(), "<polyline"); n != 2*len(allVariants())-1 {
		t.Errorf("%d lines drawn, want %d (one series lacks formation)", n, 2*len(allVariants())-1)
	}
}
