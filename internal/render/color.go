package render

import (
	"os"
	"strings"
)

// ANSI styles for risk. Only a Renderer (or prompt) writing to a terminal
// uses them; see ColorFor.
const (
	styleRisk  = "\x1b[1;31m" // bold red: terminate, denied, failed
	styleWarn  = "\x1b[33m"   // yellow: cancel, protected, warnings
	styleQuiet = "\x1b[2m"    // faint: skipped steps
	styleReset = "\x1b[0m"
)

// ColorFor reports whether output to a terminal should be coloured: yes,
// unless NO_COLOR is set to anything non-empty (https://no-color.org).
// Callers pass whether the output is a terminal; a file or pipe is never
// coloured, so a replay into a file reads exactly like a live run's log.
func ColorFor(isTerminal bool) bool {
	return isTerminal && os.Getenv("NO_COLOR") == ""
}

// Paint wraps s in style when on is true.
func Paint(on bool, style, s string) string {
	if !on || s == "" {
		return s
	}
	return style + s + styleReset
}

// Risk paints s as a risky thing (terminate, denied, failed) when on.
func Risk(on bool, s string) string { return Paint(on, styleRisk, s) }

// Caution paints s as something to look at twice (a cancel, a protected
// session, a warning) when on.
func Caution(on bool, s string) string { return Paint(on, styleWarn, s) }

func (r *Renderer) risk(s string) string    { return Risk(r.Color, s) }
func (r *Renderer) caution(s string) string { return Caution(r.Color, s) }
func (r *Renderer) quiet(s string) string   { return Paint(r.Color, styleQuiet, s) }

// noteStyle picks the colour of a table note: a protection is a caution.
func noteStyle(on bool, note string) string {
	if strings.Contains(note, "protected") {
		return Caution(on, note)
	}
	return note
}
