package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// Cut shortens s to at most n runes, marking the cut with "…".
func Cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// SessionTable writes sessions as a table that fits width columns: pid,
// user, database, application, client, state, runtime, transaction age,
// wait and the query, cut to what is left of the line. notes, when
// non-nil, adds a last column (for example why a session is excluded).
func SessionTable(w io.Writer, rows []activity.Session, notes []string, width int, indent string) {
	headers := []string{"PID", "USER", "DATABASE", "APPLICATION", "CLIENT", "STATE", "RUNTIME", "XACT", "WAIT"}
	cells := make([][]string, len(rows))
	for i := range rows {
		s := &rows[i]
		cells[i] = []string{
			strconv.Itoa(s.PID), Cut(s.Usename, 16), Cut(s.Datname, 16), Cut(s.ApplicationName, 20),
			Client(s), s.State, Duration(Runtime(s)), Duration(s.XactRuntime), Cut(Wait(s), 32),
		}
	}
	widths := make([]int, len(headers))
	for j, h := range headers {
		widths[j] = len(h)
		for _, c := range cells {
			widths[j] = max(widths[j], utf8.RuneCountInString(c[j]))
		}
	}
	used := len(indent)
	for _, wd := range widths {
		used += wd + 2
	}
	// The query takes what is left of the line; when too little is left,
	// it goes on a line of its own under its row.
	queryWidth := width - used
	ownLine := queryWidth < 12
	line := func(cols []string, tail string) {
		var b strings.Builder
		b.WriteString(indent)
		for j, c := range cols {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
		}
		b.WriteString(tail)
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	if ownLine {
		line(headers, "")
	} else {
		line(headers, "QUERY")
	}
	for i, c := range cells {
		q := OneLineQuery(rows[i].Query)
		if ownLine {
			line(c, "")
			if q != "" {
				fmt.Fprintf(w, "%s  query: %s\n", indent, Cut(q, max(width-len(indent)-9, 20)))
			}
		} else {
			line(c, Cut(q, queryWidth))
		}
		if notes != nil && notes[i] != "" {
			fmt.Fprintf(w, "%s  └ %s\n", indent, notes[i])
		}
		if note := PoolerNote(&rows[i]); note != "" {
			fmt.Fprintf(w, "%s  └ %s\n", indent, note)
		}
	}
}
