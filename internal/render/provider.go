package render

import (
	"fmt"
	"io"

	"github.com/pgrunbook/pgrunbook/internal/managed"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// providerLines report, at the start of a run, the managed service the
// server was recognised as and the reserved connection slots the role may
// use. A transcript from before these were recorded shows neither.
func providerLines(w io.Writer, s *transcript.Server) {
	if p := s.Provider; p != nil {
		fmt.Fprintf(w, "  provider:   %s\n", p.Summary())
	}
	if len(s.ReservedSlots) > 0 {
		fmt.Fprintf(w, "  reserved:   %s\n", managed.ReservesSummary(s.ReservedSlots))
	}
}
