package render

import (
	"strings"

	"github.com/mattn/go-runewidth"
)

// TextWidth is how many terminal columns s takes: a CJK character or an
// emoji takes two, a combining mark none.
func TextWidth(s string) int {
	if printableASCII(s) {
		// One column a byte: most cells of a table (pids, names,
		// states, durations) are, and runewidth's grapheme walk is
		// the costly part of drawing a table of hundreds of sessions.
		return len(s)
	}
	if t, ok := strings.CutSuffix(s, "…"); ok && printableASCII(t) {
		// An ASCII cell that Cut shortened: measuring it with runewidth
		// would build runewidth's table of every rune's width (a few
		// milliseconds, once a process) for the ellipsis alone.
		return len(t) + ellipsisWidth()
	}
	return runewidth.StringWidth(s)
}

// ellipsisWidth is the width of "…", an East Asian ambiguous character:
// two columns where runewidth counts those wide (a CJK locale, or
// RUNEWIDTH_EASTASIAN=1), else one.
func ellipsisWidth() int {
	if runewidth.DefaultCondition.EastAsianWidth {
		return 2
	}
	return 1
}

// printableASCII reports whether every byte of s is a printable ASCII
// character (space to ~).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Cut shortens s to at most n terminal columns, marking the cut with "…".
func Cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if printableASCII(s) {
		// As runewidth.Truncate cuts it, without its table of every
		// rune's width, which it builds the first time (a megabyte, a few
		// milliseconds of a run that shows one long query).
		if len(s) <= n {
			return s
		}
		return s[:max(n-ellipsisWidth(), 0)] + "…"
	}
	if TextWidth(s) <= n {
		return s
	}
	return runewidth.Truncate(s, n, "…")
}

// Fit makes s exactly n terminal columns wide: cut with "…" when longer,
// filled with spaces when shorter. It is what fmt's %-Ns does for
// columns, where fmt counts runes.
func Fit(s string, n int) string {
	if n > 0 && printableASCII(s) {
		// A byte a column: filled, or cut to exactly n columns (the
		// ellipsis included), without measuring the cut text again.
		if len(s) <= n {
			return s + strings.Repeat(" ", n-len(s))
		}
		return Cut(s, n)
	}
	return pad(Cut(s, n), n)
}

// pad fills s with spaces to n terminal columns.
func pad(s string, n int) string {
	if w := TextWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
