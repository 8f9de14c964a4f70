package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// settingOrder is the order pgrunbook's session settings are reported in.
var settingOrder = []string{"application_name", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "default_transaction_read_only"}

// connectionLines report, at the start of a run, how pgrunbook's session
// is set up: the settings as read back, the pooler it goes through, and
// the --pooler console.
func connectionLines(w io.Writer, s *transcript.Server) {
	if p := s.Pooler; p != nil {
		name := p.Name
		if name == "" {
			name = "a connection pooler"
		}
		fmt.Fprintf(w, "  pooler:     through %s at %s, %s pooling: our pid above is the server's (pg_backend_pid), not the pooler's stand-in %d\n",
			name, p.Addr, p.PoolMode, p.ProtocolPID)
	}
	if len(s.Settings) > 0 {
		var parts []string
		for _, k := range settingOrder {
			if v, ok := s.Settings[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		fmt.Fprintf(w, "  session:    %s (read back after connecting)\n", strings.Join(parts, " "))
	}
	if c := s.PoolerConsole; c != nil {
		fmt.Fprintf(w, "  --pooler:   %s console at %s: pooled backends are shown with the client linked to them now\n", c.Version, c.Addr)
	}
}

// PoolerNote says, for a backend whose client is a pooler, whom it serves;
// "" for any other backend.
func PoolerNote(s *activity.Session) string {
	if !s.ViaPooler {
		return ""
	}
	const mayBePrevious = "its application_name may be the previous client's"
	if s.PoolMode == "" {
		return fmt.Sprintf("via a pooler? %s; which client it serves now is unknown without --pooler, and %s", s.PoolerReason, mayBePrevious)
	}
	mode := s.PoolMode + " pooling"
	switch {
	case s.PoolerLinked():
		app := ""
		if s.PoolerClientApp != "" {
			app = " (" + s.PoolerClientApp + ")"
		}
		return fmt.Sprintf("via pooler, %s: serves client %s%s now; %s", mode, joinHostPort(s.PoolerClientAddr, s.PoolerClientPort), app, mayBePrevious)
	case strings.Contains(s.PoolerReason, "linked to no client"):
		return fmt.Sprintf("via pooler, %s: idle in the pool, serving no client now; application_name and query are a previous client's", mode)
	}
	return fmt.Sprintf("via pooler, %s: %s", mode, s.PoolerReason)
}

func joinHostPort(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}
