package main

import (
	"fmt"
	"io"
)

// scorecard is the list of checks the demo's outcome is judged by.
type scorecard struct {
	checks []check
}

// check is one line of the scorecard.
type check struct {
	ok   bool
	text string
}

// add records a check.
func (c *scorecard) add(ok bool, format string, args ...any) {
	c.checks = append(c.checks, check{ok: ok, text: fmt.Sprintf(format, args...)})
}

// failures returns the text of every failed check.
func (c *scorecard) failures() []string {
	var f []string
	for _, ch := range c.checks {
		if !ch.ok {
			f = append(f, ch.text)
		}
	}
	return f
}

// print writes every check, marked ok or FAIL.
func (c *scorecard) print(out io.Writer) {
	for _, ch := range c.checks {
		mark := "[ok]  "
		if !ch.ok {
			mark = "[FAIL]"
		}
		fmt.Fprintf(out, "  %s %s\n", mark, ch.text)
	}
}
