package incident

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgsession"
)

// sqlstateQueryCanceled is query_canceled, what a cancelled statement
// ends with.
const sqlstateQueryCanceled = "57014"

// StormSession is one session of a query storm: an application that runs
// the same statement again and again. Its background loop runs the
// statement; when the statement is cancelled it waits a short pause and
// issues it again, as a retrying client or a job queue does, so a storm
// that is only cancelled comes back. Any other ending (terminate, a lost
// connection, Close) ends the loop: Done closes and Err holds that error.
type StormSession struct {
	*Session

	runs, cancels atomic.Int64
	firstOnce     sync.Once
	firstEnded    chan struct{}
	firstErr      error // valid once firstEnded is closed
	resumeOnce    sync.Once
	resumed       chan struct{}
}

// Storm opens a session running sql in such a loop, re-issuing it pause
// after each cancel, and returns once the first run is visibly running.
// The statement should run far longer than the storm is watched (a
// pg_sleep), so that it only ends when something stops it.
func Storm(ctx context.Context, dsn, app, sql string, pause time.Duration) (*StormSession, error) {
	if pause <= 0 {
		return nil, fmt.Errorf("incident: Storm needs a positive pause, got %s", pause)
	}
	s, err := connect(ctx, dsn, app)
	if err != nil {
		return nil, err
	}
	st := &StormSession{Session: s, firstEnded: make(chan struct{}), resumed: make(chan struct{})}
	s.runBackgroundFunc(ctx, sql, func(bctx context.Context) error {
		defer st.first(errors.New("incident: the storm's loop ended"))
		for {
			if st.runs.Add(1) == 2 {
				st.resumeOnce.Do(func() { close(st.resumed) })
			}
			_, err := s.conn.Exec(bctx, sql)
			st.first(err)
			if pgsession.SQLState(err) == sqlstateQueryCanceled {
				st.cancels.Add(1)
				t := time.NewTimer(pause)
				select {
				case <-t.C:
				case <-bctx.Done():
					t.Stop()
					return bctx.Err()
				}
				continue
			}
			if err != nil {
				return err
			}
			// A run that completed on its own is issued again at once.
		}
	})
	if err := s.awaitActivity(ctx, "running", func(a activity) bool {
		return a.State == "active" && a.QueryStarted && a.runs(sql)
	}); err != nil {
		s.Close()
		return nil, err
	}
	return st, nil
}

// first records how the first run ended, once.
func (st *StormSession) first(err error) {
	st.firstOnce.Do(func() {
		st.firstErr = err
		close(st.firstEnded)
	})
}

// FirstEnded returns a channel closed when the client saw its first run
// of the statement end.
func (st *StormSession) FirstEnded() <-chan struct{} { return st.firstEnded }

// FirstErr returns how the first run ended once FirstEnded is closed
// (a server error with SQLSTATE 57014 after a cancel); nil before.
func (st *StormSession) FirstErr() error {
	select {
	case <-st.firstEnded:
		return st.firstErr
	default:
		return nil
	}
}

// Resumed returns a channel closed when the session issued its statement
// a second time: the storm came back.
func (st *StormSession) Resumed() <-chan struct{} { return st.resumed }

// Runs returns how many times the statement was issued, the first time
// included.
func (st *StormSession) Runs() int { return int(st.runs.Load()) }

// Cancels returns how many runs ended cancelled (SQLSTATE 57014).
func (st *StormSession) Cancels() int { return int(st.cancels.Load()) }

// sqlstateUndefinedObject is undefined_object: an unknown setting.
const sqlstateUndefinedObject = "42704"

// EnableQueryID makes new sessions of database db compute query_id
// (compute_query_id = on), which pg_stat_activity shows from PostgreSQL
// 14; without pg_stat_statements it stays empty otherwise. It returns
// false on an older server, which has no such setting.
func EnableQueryID(ctx context.Context, dsn, db string) (bool, error) {
	conn, err := probeConn(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "ALTER DATABASE "+pgsession.QuoteName(db)+" SET compute_query_id = on")
	switch {
	case pgsession.SQLState(err) == sqlstateUndefinedObject:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("incident: enable compute_query_id in %s: %w", db, err)
	}
	return true, nil
}
