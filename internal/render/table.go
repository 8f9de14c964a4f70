package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Duration formats a duration for a table: 850ms, 42s, 5m12s, 2h03m.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Client describes where a session connects from.
func Client(s *activity.Session) string {
	switch {
	case s.ClientAddr != "":
		if s.ClientPort > 0 {
			return s.ClientAddr + ":" + strconv.Itoa(s.ClientPort)
		}
		return s.ClientAddr
	case s.ClientPort == -1:
		return "local"
	}
	return ""
}

// Runtime is how long a session has been doing what its state says: the
// statement's runtime when active, the time in its state otherwise.
func Runtime(s *activity.Session) time.Duration {
	if s.State == "active" {
		return s.QueryRuntime
	}
	return s.StateRuntime
}

// Wait describes what a session waits on.
func Wait(s *activity.Session) string {
	w := s.WaitEventType
	if s.WaitEvent != "" {
		w += ":" + s.WaitEvent
	}
	if len(s.BlockedBy) > 0 {
		w += " by " + joinInts(s.BlockedBy)
	}
	return w
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// OneLineQuery squeezes a query onto one line.
func OneLineQuery(q string) string {
	return strings.Join(strings.Fields(q), " ")
}

// RuntimeCell is the RUNTIME column of a session: the statement's runtime
// when active; for an idle session, "idle " and how long it has been idle
// (state_runtime), so it is not read as a statement's runtime.
func RuntimeCell(s *activity.Session) string {
	switch {
	case s.State == "active":
		return Duration(s.QueryRuntime)
	case strings.HasPrefix(s.State, "idle") && s.StateRuntime > 0:
		return "idle " + Duration(s.StateRuntime)
	}
	return Duration(Runtime(s))
}

// SessionTable writes sessions as a table that fits width columns: pid,
// user, database, application, client, state, runtime, transaction age,
// wait and the query, cut to what is left of the line. notes, when
// non-nil, adds a line under a row (for example why a session is
// excluded).
func SessionTable(w io.Writer, rows []activity.Session, notes []string, width int, indent string) {
	sessionTable(w, rows, notes, width, indent, false)
}

// tableColumns are the columns of a session table; shrink columns give
// up width, widest first, before the query moves under its row.
var tableColumns = []struct {
	header string
	shrink bool
}{
	{"PID", false}, {"USER", true}, {"DATABASE", true}, {"APPLICATION", true}, {"CLIENT", true},
	{"STATE", true}, {"RUNTIME", false}, {"XACT", false}, {"WAIT", true},
}

const (
	// minShrunk is the narrowest a shrinking column gets.
	minShrunk = 6
	// minQuery is the narrowest query column worth keeping on the row.
	minQuery = 20
)

func sessionTable(w io.Writer, rows []activity.Session, notes []string, width int, indent string, color bool) {
	cells := make([][]string, len(rows))
	for i := range rows {
		s := &rows[i]
		cells[i] = []string{
			strconv.Itoa(s.PID), Cut(s.Usename, 16), Cut(s.Datname, 16), Cut(s.ApplicationName, 20),
			Client(s), s.State, RuntimeCell(s), Duration(s.XactRuntime), Cut(Wait(s), 32),
		}
	}
	widths := make([]int, len(tableColumns))
	for j, c := range tableColumns {
		widths[j] = TextWidth(c.header)
		for _, row := range cells {
			widths[j] = max(widths[j], TextWidth(row[j]))
		}
	}
	used := func() int {
		n := TextWidth(indent)
		for _, wd := range widths {
			n += wd + 2
		}
		return n
	}
	// Shrink the widest shrinkable column, one column at a time, until
	// the query has room on the row or nothing can shrink any more.
	for used()+minQuery > width {
		widest := -1
		for j, c := range tableColumns {
			if c.shrink && widths[j] > minShrunk && (widest < 0 || widths[j] > widths[widest]) {
				widest = j
			}
		}
		if widest < 0 {
			break
		}
		widths[widest]--
	}
	queryWidth := width - used()
	ownLine := queryWidth < minQuery
	line := func(cols []string, tail string) string {
		var b strings.Builder
		b.WriteString(indent)
		for j, c := range cols {
			b.WriteString(Fit(c, widths[j]))
			b.WriteString("  ")
		}
		b.WriteString(tail)
		return strings.TrimRight(b.String(), " ")
	}
	headers := make([]string, len(tableColumns))
	for j, c := range tableColumns {
		headers[j] = c.header
	}
	if ownLine {
		fmt.Fprintln(w, line(headers, ""))
	} else {
		fmt.Fprintln(w, line(headers, "QUERY"))
	}
	for i, c := range cells {
		q := OneLineQuery(rows[i].Query)
		if ownLine {
			fmt.Fprintln(w, line(c, ""))
			if q != "" {
				fmt.Fprintf(w, "%s  query: %s\n", indent, Cut(q, max(width-TextWidth(indent)-9, 20)))
			}
		} else {
			fmt.Fprintln(w, line(c, Cut(q, queryWidth)))
		}
		if notes != nil && notes[i] != "" {
			fmt.Fprintf(w, "%s  └ %s\n", indent, noteStyle(color, notes[i]))
		}
		if note := PoolerNote(&rows[i]); note != "" {
			fmt.Fprintf(w, "%s  └ %s\n", indent, note)
		}
	}
}
