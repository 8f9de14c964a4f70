package pg

// Warming the session up for its first signal, in the set-up's round trip.
//
// A new backend pays, on its first signal, for what it has not done yet:
// loading PL/pgSQL for the audit block (audit.go), and reading into its
// caches the catalog entries that parsing and planning the signalling
// statement and the verify's statement look up. With Options.WarmUp the
// set-up's pipeline carries that work too, behind the first snapshot and
// after a Sync of its own: the server does it while pgrunbook reads the
// snapshot and decides, time in which it would otherwise wait. Its answer
// travels right behind the snapshot's, so reading it (settle, before the
// connection's next statement) costs no round trip of its own, near the
// server or far from it. It leaves nothing on the session: the block is
// run and done, the parses are of the unnamed statement, which the next
// unnamed statement replaces. A session that a pooler hands to another
// client afterwards carries nothing of pgrunbook's.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// loadPLpgSQL is an empty block: running it loads PL/pgSQL into the
// backend, which the session's first block otherwise waits for (a
// millisecond or two).
const loadPLpgSQL = `DO $$BEGIN END$$`

// ahead is the warm-up part of the set-up's pipeline, sent and not yet
// read.
type ahead struct {
	pipeline *pgconn.Pipeline
	// cancel ends the pipeline's context, which has no deadline: pgx
	// watches it until the pipeline is closed, and a deadline would cut
	// the connection of a run whose next statement comes late. bound
	// limits the reading of the answer (finish), like a statement's.
	cancel context.CancelFunc
	bound  time.Duration
}

// sendWarmUp adds the warm-up to p, after the set-up's Sync: the block,
// then unnamed parses of the signalling statements and of the verify's
// statement for the server version v, with the parameter types they are
// run with.
func sendWarmUp(p *pgconn.Pipeline, m *pgx.Conn, v int) {
	p.SendQueryParams(loadPLpgSQL, nil, nil, nil, nil)
	parse := func(sql string, args []any) {
		if _, oids, err := encodeArgs(m.TypeMap(), args); err == nil {
			p.SendPrepare("", sql, oids)
		}
	}
	for _, fn := range []activity.Function{activity.Cancel, activity.Terminate} {
		q := signalQuery(fn, v)
		parse(q, signalArgs(q, fn, nil, nil, ""))
	}
	parse(string(buildTargetSnapshotSQL(v)), []any{[]int32(nil)})
}

// settle reads what the server answered to the warm-up and ends the
// set-up's pipeline, so that the connection can take its next statement.
// A warm-up that failed costs nothing but itself. A connection the reading
// found dead shows as closed to whatever uses it next.
func (c *Client) settle() {
	a := c.ahead
	c.ahead = nil
	a.finish()
}

// finish reads the rest of a's pipeline, within a.bound, and ends it;
// nothing for nil.
func (a *ahead) finish() {
	if a == nil {
		return
	}
	t := time.AfterFunc(a.bound, a.cancel)
	defer t.Stop()
	_ = a.pipeline.Close()
	a.cancel()
}
