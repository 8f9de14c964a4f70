package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// durations is a sample of measured times.
type durations []time.Duration

// quantile returns the nearest-rank q-quantile (0 < q <= 1) of the sample,
// 0 for an empty one.
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(float64(len(s))*q+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func (d durations) median() time.Duration { return d.quantile(0.5) }
func (d durations) p95() time.Duration    { return d.quantile(0.95) }

func (d durations) min() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Min(d)
}

func (d durations) max() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// ms renders a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// mib renders a size in KiB (as rusage reports it) in MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// table prints rows as aligned columns, the first row being the header.
func table(w io.Writer, indent string, rows [][]string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for n, r := range rows {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == len(r)-1 {
				b.WriteString(c)
			} else {
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			}
		}
		fmt.Fprintln(w, b.String())
		if n == 0 {
			var u strings.Builder
			u.WriteString(indent)
			for i := range r {
				if i > 0 {
					u.WriteString("  ")
				}
				u.WriteString(strings.Repeat("-", widths[i]))
			}
			fmt.Fprintln(w, u.String())
		}
	}
}

// heading starts a section of the report.
func heading(w io.Writer, title string) {
	fmt.Fprintf(w, "\n== %s\n", title)
}

// verdict compares a measured value with its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
