package report

import (
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// tableHead starts a Markdown table with its header row.
func (r *report) tableHead(cols ...string) {
	r.tableRow(cols...)
	r.p("|%s\n", strings.Repeat("---|", len(cols)))
}

// tableRow writes one row of cells, each already made safe (cell, code).
func (r *report) tableRow(cells ...string) {
	r.p("| %s |\n", strings.Join(cells, " | "))
}

// eventTable writes a table of the events of one type, one row each,
// after the header cols; none is written instead when there is no such
// event. It is the shape of the prompts, actions and verification
// sections.
func (r *report) eventTable(typ string, cols []string, none string, row func(ev transcript.Event) []string) {
	shown := false
	for _, ev := range r.events {
		if ev.Type != typ {
			continue
		}
		if !shown {
			r.tableHead(cols...)
			shown = true
		}
		r.tableRow(row(ev)...)
	}
	if !shown {
		r.p("%s\n", none)
	}
	r.p("\n")
}

// at is an event's time in a table: how long after the start of the run.
func (r *report) at(ev transcript.Event) string { return offset(ev.Time.Sub(r.start.Time)) }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// code puts text in a code span, safe in a table cell.
func code(s string) string {
	s = oneLine(s)
	if s == "" {
		return "-"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}
