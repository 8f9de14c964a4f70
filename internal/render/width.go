package render

import (
	"strings"

	"github.com/mattn/go-runewidth"
)

// TextWidth is how many terminal columns s takes: a CJK character or an
// emoji takes two, a combining mark none.
func TextWidth(s string) int { return runewidth.StringWidth(s) }

// Cut shortens s to at most n terminal columns, marking the cut with "…".
func Cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if TextWidth(s) <= n {
		return s
	}
	return runewidth.Truncate(s, n, "…")
}

// Fit makes s exactly n terminal columns wide: cut with "…" when longer,
// filled with spaces when shorter. It is what fmt's %-Ns does for
// columns, where fmt counts runes.
func Fit(s string, n int) string { return pad(Cut(s, n), n) }

// pad fills s with spaces to n terminal columns.
func pad(s string, n int) string {
	if w := TextWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
