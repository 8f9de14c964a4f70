package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// kept shows the sessions an activity step kept across its samples: one
// line, and the table when a stable condition picked them (the few
// sessions it found are the point; every stable session is not).
func (r *Renderer) kept(ev transcript.Event) {
	noun := "sessions"
	if len(ev.Rows) == 1 {
		noun = "session"
	}
	fmt.Fprintf(r.W, "    %s: kept %d %s %s\n", ev.Set, len(ev.Rows), noun, ev.Text)
	if ev.Stable != "" && len(ev.Rows) > 0 {
		r.table(ev.Set, ev.Rows)
	}
}

// summary shows a summarize step's groups as a compact table, largest
// first.
func (r *Renderer) summary(ev transcript.Event) {
	w, g := r.W, ev.Groups
	if g == nil {
		return
	}
	fmt.Fprintf(w, "    %s: %d session(s) in %d group(s) by %s\n", ev.Set, g.Sessions, g.TotalGroups, strings.Join(g.By, ", "))
	if len(g.Groups) == 0 {
		return
	}
	headers := append([]string{"COUNT"}, upper(g.By)...)
	rows := make([][]string, len(g.Groups))
	shown := 0
	for i, grp := range g.Groups {
		cells := []string{strconv.Itoa(grp.Count)}
		for _, k := range grp.Key {
			if k == "" {
				k = "-"
			}
			cells = append(cells, Cut(OneLineQuery(k), 40))
		}
		rows[i] = cells
		shown += grp.Count
	}
	writeTable(w, "    ", headers, rows)
	if rest := g.TotalGroups - len(g.Groups); rest > 0 {
		fmt.Fprintf(w, "    (and %d more group(s), %d session(s))\n", rest, g.Sessions-shown)
	}
}

func upper(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToUpper(n)
	}
	return out
}

// writeTable writes left-aligned columns two spaces apart.
func writeTable(w io.Writer, indent string, headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for j, h := range headers {
		widths[j] = len(h)
		for _, row := range rows {
			if j < len(row) {
				widths[j] = max(widths[j], TextWidth(row[j]))
			}
		}
	}
	line := func(cols []string) {
		var b strings.Builder
		b.WriteString(indent)
		for j, c := range cols {
			if j < len(cols)-1 {
				c = pad(c, widths[j]+2)
			}
			b.WriteString(c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(headers)
	for _, row := range rows {
		line(row)
	}
}
