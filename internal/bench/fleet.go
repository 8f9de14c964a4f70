package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgrunbook/pgrunbook/engine"
)

// Application names of the staged sessions, so every measurement can tell
// them apart.
const (
	idleApp    = "bench-idle"
	longApp    = "bench-long"
	controlApp = "bench-control"
)

// longSQL is the statement the long sessions run. It would end on its own
// after two minutes, long after the bench is done with it.
const longSQL = "SELECT pg_sleep(120)"

// dialWorkers is how many connections are opened at once. On two cores the
// server's fork and authentication are the bottleneck; more workers than
// this only queue in the postmaster.
const dialWorkers = 24

// fleet is the staged load: many client sessions on raw protocol
// connections (no statement cache or type map per session), some idle,
// some running longSQL.
type fleet struct {
	cfg  *pgconn.Config
	idle []*pgconn.PgConn
	long []*longSession
	// stmtCtx bounds the long statements; close cancels it.
	stmtCtx    context.Context
	stmtCancel context.CancelFunc
}

// longSession is a session that runs longSQL again after every cancel.
type longSession struct {
	conn *pgconn.PgConn
	mu   sync.Mutex
	done chan struct{} // closed when the current statement returned
	err  error         // the current statement's error, once done
}

func newFleet(dsn string) (*fleet, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &fleet{cfg: cfg, stmtCtx: ctx, stmtCancel: cancel}, nil
}

// stageFleet opens idle idle sessions and long sessions for long
// statements on dsn (restage starts the statements); close it when done.
func stageFleet(ctx context.Context, dsn string, idle, long int) (*fleet, error) {
	fl, err := newFleet(dsn)
	if err != nil {
		return nil, err
	}
	if err := fl.addIdle(ctx, idle); err != nil {
		fl.close()
		return nil, err
	}
	if err := fl.addLong(ctx, long); err != nil {
		fl.close()
		return nil, err
	}
	return fl, nil
}

// dial opens n sessions named app, dialWorkers at a time.
func (f *fleet) dial(ctx context.Context, app string, n int) ([]*pgconn.PgConn, error) {
	conns := make([]*pgconn.PgConn, n)
	jobs := make(chan int)
	errs := make(chan error, dialWorkers)
	var wg sync.WaitGroup
	for w := 0; w < min(dialWorkers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				cfg := f.cfg.Copy()
				cfg.RuntimeParams["application_name"] = app
				c, err := pgconn.ConnectConfig(ctx, cfg)
				if err != nil {
					errs <- fmt.Errorf("open %s session %d of %d: %w", app, i+1, n, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

// addIdle opens n more idle sessions.
func (f *fleet) addIdle(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	conns, err := f.dial(ctx, idleApp, n)
	if err != nil {
		return err
	}
	f.idle = append(f.idle, conns...)
	return nil
}

// addLong opens n sessions for long statements; restage starts them.
func (f *fleet) addLong(ctx context.Context, n int) error {
	conns, err := f.dial(ctx, longApp, n)
	if err != nil {
		return err
	}
	for _, c := range conns {
		done := make(chan struct{})
		close(done)
		f.long = append(f.long, &longSession{conn: c, done: done})
	}
	return nil
}

// restage starts longSQL on every long session whose previous statement
// has ended, and waits until ctl sees all of them active.
func (f *fleet) restage(ctx context.Context, ctl *pgx.Conn) error {
	for _, s := range f.long {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("a %s statement (pid %d) did not end", longApp, s.conn.PID())
		}
		s.start(f.stmtCtx)
	}
	return waitCount(ctx, ctl, longApp, "active", len(f.long))
}

func (s *longSession) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = make(chan struct{})
	go func(done chan struct{}) {
		_, err := s.conn.Exec(ctx, longSQL).ReadAll()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(done)
	}(s.done)
}

// cancelled counts the long sessions whose last statement ended with
// query_canceled (57014) and whose connection is still open: the outcome a
// gentle cancel must have.
func (f *fleet) cancelled(ctx context.Context) (int, error) {
	n := 0
	for _, s := range f.long {
		select {
		case <-s.done:
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(10 * time.Second):
			return n, fmt.Errorf("a %s statement (pid %d) is still running", longApp, s.conn.PID())
		}
		s.mu.Lock()
		var pgErr *pgconn.PgError
		if errors.As(s.err, &pgErr) && pgErr.Code == "57014" && !s.conn.IsClosed() {
			n++
		}
		s.mu.Unlock()
	}
	return n, nil
}

// close ends every session, at most a few seconds in all.
func (f *fleet) close() {
	f.stmtCancel()
	conns := append([]*pgconn.PgConn{}, f.idle...)
	for _, s := range f.long {
		conns = append(conns, s.conn)
	}
	closeAll(conns)
	f.idle, f.long = nil, nil
}

// closeAll closes connections concurrently, each within two seconds.
func closeAll(conns []*pgconn.PgConn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.Close(ctx)
		}()
	}
	wg.Wait()
}

// waitCount polls pg_stat_activity until exactly want sessions named app
// are in state, for at most 30 seconds.
func waitCount(ctx context.Context, ctl *pgx.Conn, app, state string, want int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := countSessions(ctx, ctl, app, state)
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d %s sessions %s after 30s, want %d", n, app, state, want)
		}
		if err := pause(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// countSessions counts the sessions named app in state ("" for any).
func countSessions(ctx context.Context, ctl *pgx.Conn, app, state string) (int, error) {
	var n int
	err := ctl.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND ($2 = '' OR state = $2)`, app, state).Scan(&n)
	return n, err
}

// totalRows is the number of rows pg_stat_activity has now.
func totalRows(ctx context.Context, ctl *pgx.Conn) (int, error) {
	var n int
	err := ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity").Scan(&n)
	return n, err
}

// topUp opens idle sessions until pg_stat_activity has at least rows rows,
// counting the one client that will take the snapshot (extra).
func (f *fleet) topUp(ctx context.Context, ctl *pgx.Conn, rows, extra int) (int, error) {
	n, err := totalRows(ctx, ctl)
	if err != nil {
		return 0, err
	}
	if err := f.addIdle(ctx, rows-n-extra); err != nil {
		return 0, err
	}
	return totalRows(ctx, ctl)
}

// pause waits d or until ctx ends, on the engine's wall clock.
var pause = engine.RealClock{}.Sleep
