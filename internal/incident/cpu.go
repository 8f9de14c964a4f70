package incident

import (
	"context"
	"time"
)

// CPUHogSQL is the statement a CPUHog session runs: counting a hundred
// billion generated rows, a runaway query that computes without waiting
// for anything (no wait event) and honours cancel between rows. The set
// function sits in the select list, so its rows stream through instead of
// being collected in a temporary file first.
const CPUHogSQL = "SELECT count(*) FROM (SELECT generate_series(1, 100000000000) AS n) AS s"

// CPUHog opens a session running CPUHogSQL in the background and returns
// once pg_stat_activity shows it active with no wait event, that is on
// the CPU. CPUTime(PID) tells how much CPU it has burnt (Linux).
func CPUHog(ctx context.Context, dsn, app string) (*Session, error) {
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	// JIT compiling a statement the planner thinks huge would spend its
	// first moments in LLVM; the staged hog computes from the start.
	if _, err := s.conn.Exec(ctx, "SET jit = off"); err != nil {
		s.markDone()
		return stage(s, err)
	}
	s.runBackground(ctx, CPUHogSQL)
	return stage(s, s.awaitActivity(ctx, "computing", func(a activity) bool {
		return a.State == "active" && a.QueryStarted && a.WaitEventType == "" && a.runs(s.Query)
	}))
}

// CPUTime returns the CPU time (user and system) the process pid has used
// so far. The process must run on this machine; only Linux is supported
// (errors.ErrUnsupported elsewhere).
func CPUTime(pid int) (time.Duration, error) { return cpuTime(pid) }
