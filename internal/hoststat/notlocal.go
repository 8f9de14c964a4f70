package hoststat

import (
	"fmt"
	"strings"
)

// verdict is the outcome of checking one backend against /proc.
type verdict int

const (
	accepted    verdict = iota
	noProcess           // no /proc/PID: no such process here (or hidden by hidepid=2)
	notPostgres         // a process, but not a PostgreSQL server child
	otherStart          // a PostgreSQL process that started at another time
	unreadable          // /proc/PID is there but could not be read or parsed
	noStartTime         // the backend has no backend_start (or pid) to check
	numVerdicts
)

// verdictText describes backends left out for each reason, singular and
// plural.
var verdictText = [numVerdicts][2]string{
	noProcess:   {"has no process here", "have no process here"},
	notPostgres: {"is a process here that is not a PostgreSQL backend", "are processes here that are not PostgreSQL backends"},
	otherStart:  {"is a PostgreSQL process here that started at another time", "are PostgreSQL processes here that started at other times"},
	unreadable:  {"could not be read in /proc (is /proc mounted with hidepid?)", "could not be read in /proc (is /proc mounted with hidepid?)"},
	noStartTime: {"has no backend_start to check (hidden from this role)", "have no backend_start to check (hidden from this role)"},
}

// leftOut counts the backends Sample left out, by reason.
type leftOut [numVerdicts]int

func (l *leftOut) add(v verdict) { l[v]++ }

// err returns the ErrNotLocal error for n backends of which none was
// accepted: one line saying what was found instead.
func (l *leftOut) err(n int) error {
	var parts []string
	for v := noProcess; v < numVerdicts; v++ {
		c := l[v]
		switch {
		case c == 0:
		case n == 1:
			parts = append(parts, "the backend "+verdictText[v][0])
		case c == 1:
			parts = append(parts, "1 "+verdictText[v][0])
		default:
			parts = append(parts, fmt.Sprintf("%d %s", c, verdictText[v][1]))
		}
	}
	var b strings.Builder
	if n > 1 {
		fmt.Fprintf(&b, "of %d backends, ", n)
	}
	switch len(parts) {
	case 0:
	case 1:
		b.WriteString(parts[0])
	default:
		b.WriteString(strings.Join(parts[:len(parts)-1], ", "))
		b.WriteString(" and ")
		b.WriteString(parts[len(parts)-1])
	}
	if l[noProcess]+l[notPostgres]+l[otherStart] > 0 {
		b.WriteString("; the server is remote or in another PID namespace")
	}
	return fmt.Errorf("%w: %s", ErrNotLocal, b.String())
}
