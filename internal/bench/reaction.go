package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// Reaction times: how soon a backend reacts to pg_cancel_backend and
// pg_terminate_backend, seen from pg_stat_activity and from the victim's
// client, with and without pgbench beside it. These are the numbers a
// verify step's window after a cancel or a terminate rests on.

// The reaction part's own database, load and application names.
const (
	reactionDB = "reaction"
	// reactionClients pgbench clients on two threads load the server;
	// the scale is as large as the clients, so they compete for CPU, not
	// for a few branch rows.
	reactionClients = 16
	reactionScale   = 16
	// reactionWarmup is how long pgbench runs before the trials start.
	reactionWarmup = 2 * time.Second
	victimApp      = "bench-reaction-victim"
	watchApp       = "bench-reaction-watch"
	holderApp      = "bench-reaction-holder"
	lockTable      = "reaction_lock"
	// reactionRounds: each level's trials are cut into rounds, each
	// running its share of every kind, so that machine noise that comes
	// and goes falls on every kind alike.
	reactionRounds = 10
	// reactionBound bounds each wait of a trial: the statement showing up,
	// stopping, the client hearing of it.
	reactionBound = 10 * time.Second
	// terminateWait is the timeout given to pg_terminate_backend(pid,
	// timeout) (PostgreSQL 14 and later), in milliseconds.
	terminateWait = 5000
)

// reactionKind is one kind of statement that is signalled.
type reactionKind struct {
	Name string
	// Before runs on the victim's connection before SQL ("" for nothing);
	// After runs once SQL has ended (on a connection that survived).
	Before, After string
	// SQL is the statement signalled, sent with the simple protocol.
	SQL string
	// Lock: the statement counts as running only once it waits on a lock.
	Lock bool
	// Settle lets the statement run 5–25 ms before the signal, so that the
	// signal finds it deep in its work rather than starting.
	Settle bool
	// Trials per load level: cancels, plain terminates, and terminates
	// with a timeout.
	Cancels, Terminates, TerminatesWait int
}

// lockHolderSQL holds the row the lock-wait kind's UPDATE waits for; it
// runs only while that kind's trials do, so that its open transaction
// does not hold back pgbench's vacuum for the whole level.
const lockHolderSQL = "BEGIN; UPDATE " + lockTable + " SET n = n + 1 WHERE id = 1"

var reactionKinds = []reactionKind{
	{Name: "sleeping", SQL: "SELECT pg_sleep(60)",
		Cancels: 1000, Terminates: 100, TerminatesWait: 20},
	// The SRF in a subquery's target list streams its rows (one in FROM
	// would first be materialised into a tuplestore, spilling to disk).
	{Name: "CPU-bound", SQL: "SELECT count(*) FROM (SELECT generate_series(1, 10000000000::bigint)) AS s",
		Settle: true, Cancels: 200, Terminates: 40, TerminatesWait: 6},
	{Name: "lock wait", SQL: "UPDATE " + lockTable + " SET n = n + 1 WHERE id = 1",
		Lock: true, Cancels: 200, Terminates: 40, TerminatesWait: 6},
	// A transaction that created a temporary table and wrote 10,000 rows
	// to it, signalled while a second INSERT streams more rows into it:
	// the abort drops the table's files and local buffers.
	{Name: "in a larger transaction",
		Before: "BEGIN; CREATE TEMP TABLE reaction_tx (g bigint, pad text) ON COMMIT DROP; " +
			"INSERT INTO reaction_tx SELECT g, repeat('x', 100) FROM generate_series(1, 10000) AS g",
		SQL:    "INSERT INTO reaction_tx SELECT generate_series(1, 1000000000), 'y'",
		After:  "ROLLBACK",
		Settle: true, Cancels: 200, Terminates: 40, TerminatesWait: 6},
}

// reactionResult is what one kind's trials at one load level measured.
// Cancel times run from pg_cancel_backend returning true, plain terminate
// times from pg_terminate_backend returning true.
type reactionResult struct {
	Kind, Load string
	// Stopped: until a poll of pg_stat_activity (fresh, outside a
	// transaction, back to back) showed the statement stopped: state no
	// longer active or query_start changed. ClientErr: until the victim's
	// client received SQLSTATE 57014; Ready: its ReadyForQuery.
	Stopped, ClientErr, Ready durations
	// CancelCall is the pg_cancel_backend statement's own round trip.
	CancelCall durations
	// FirstPoll counts cancels whose first poll already showed them
	// stopped.
	FirstPoll int
	// Gone: until the backend's row was gone from pg_stat_activity;
	// TermClient: until the client received SQLSTATE 57P01.
	Gone, TermClient durations
	// WaitCall is pg_terminate_backend(pid, 5000) from call to return;
	// WaitFalse counts calls that returned false (the timeout ran out),
	// WaitStillThere those after which the row was still there.
	WaitCall                  durations
	WaitFalse, WaitStillThere int
	// Elapsed is the time the kind's trials took, staging included.
	Elapsed time.Duration
}

// reactionLevel is one load level's results.
type reactionLevel struct {
	Load    string
	Results []*reactionResult
	// PollRTT is every poll's round trip after a signal.
	PollRTT durations
	Busy    float64 // % of the machine busy during the level, the bench's own work included
	TPS     float64 // pgbench's, for the loaded level
	Aborted int     // pgbench clients aborted (must be 0)
	Elapsed time.Duration
}

// reactor runs the trials on one cluster.
type reactor struct {
	cluster *sandbox.Cluster
	dsn     string
	watch   *pgx.Conn // signals and polls, like pgrunbook's one connection
	victims *fleet    // dials victim connections
	holder  *pgconn.PgConn
	scale   float64
	rng     *rand.Rand
}

// reactionTimes measures reaction times without load and under pgbench,
// prints them and returns them. ctl is a connection to the cluster's
// postgres database; the reaction database is created and dropped here.
func reactionTimes(ctx context.Context, w io.Writer, cluster *sandbox.Cluster, ctl *pgx.Conn, scale float64) (levels []reactionLevel, err error) {
	heading(w, fmt.Sprintf("Reaction times: cancel and terminate, without load and beside pgbench -c %d -j 2 (scale %d)", reactionClients, reactionScale))
	began := time.Now()
	if _, err := ctl.Exec(ctx, "CREATE DATABASE "+reactionDB); err != nil {
		return nil, fmt.Errorf("create database %s: %w", reactionDB, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, derr := ctl.Exec(dctx, "DROP DATABASE IF EXISTS "+reactionDB+" WITH (FORCE)"); derr != nil && err == nil {
			err = fmt.Errorf("drop database %s: %w", reactionDB, derr)
		}
	}()
	if err := incident.InitPgbench(ctx, cluster.Command(ctx, "pgbench", incident.PgbenchInitArgs(reactionScale, reactionDB)...)); err != nil {
		return nil, err
	}
	dsn := cluster.DSN(reactionDB)
	if err := incident.CreateLockTable(ctx, dsn, lockTable, 1); err != nil {
		return nil, err
	}
	rx := &reactor{cluster: cluster, dsn: dsn, scale: scale, rng: rand.New(rand.NewPCG(1, 2))}
	if rx.victims, err = newFleet(dsn); err != nil {
		return nil, err
	}
	// Plain statements: no JIT compilation or parallel workers in front of
	// the work that is signalled.
	rx.victims.cfg.RuntimeParams["jit"] = "off"
	rx.victims.cfg.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	wcfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	wcfg.RuntimeParams["application_name"] = watchApp
	if rx.watch, err = pgx.ConnectConfig(ctx, wcfg); err != nil {
		return nil, err
	}
	defer rx.watch.Close(context.Background())
	holders, err := rx.victims.dial(ctx, holderApp, 1)
	if err != nil {
		return nil, err
	}
	rx.holder = holders[0]
	defer closeAll(holders)
	fmt.Fprintf(w, "  set up in %s (pgbench tables at scale %d)\n", ms(time.Since(began)), reactionScale)

	for _, loaded := range []bool{false, true} {
		lv, err := rx.level(ctx, loaded)
		if err != nil {
			return nil, err
		}
		levels = append(levels, lv)
		fmt.Fprintf(w, "  %s: %s, machine %.0f%% busy (the bench's own polling included), poll round trip median %s, p99 %s",
			lv.Load, lv.Elapsed.Round(100*time.Millisecond), lv.Busy, ms(lv.PollRTT.median()), ms(lv.PollRTT.quantile(0.99)))
		if loaded {
			fmt.Fprintf(w, ", pgbench %.0f TPS, %d clients aborted", lv.TPS, lv.Aborted)
		}
		fmt.Fprintln(w)
	}
	printReaction(w, levels)
	return levels, nil
}

// level runs every kind's trials once, with pgbench beside them if
// loaded.
func (rx *reactor) level(ctx context.Context, loaded bool) (lv reactionLevel, err error) {
	lv.Load = "no load"
	began := time.Now()
	var pb *incident.Pgbench
	if loaded {
		lv.Load = fmt.Sprintf("pgbench -c %d", reactionClients)
		run := incident.PgbenchRun{Clients: reactionClients, Threads: 2, Duration: 10 * time.Minute, Database: reactionDB}
		if pb, err = incident.StartPgbench(ctx, rx.cluster.Command(ctx, "pgbench", run.Args()...)); err != nil {
			return lv, err
		}
		defer pb.Stop()
		if err := pause(ctx, reactionWarmup); err != nil {
			return lv, err
		}
		began = time.Now()
	}
	cpu0 := machineCPU()
	cancelVictims, err := rx.victims.dial(ctx, victimApp, len(reactionKinds))
	if err != nil {
		return lv, err
	}
	defer closeAll(cancelVictims)
	for _, k := range reactionKinds {
		lv.Results = append(lv.Results, &reactionResult{Kind: k.Name, Load: lv.Load})
	}
	for round := 0; round < reactionRounds; round++ {
		for i := range reactionKinds {
			t := time.Now()
			if err := rx.round(ctx, &reactionKinds[i], round, cancelVictims[i], lv.Results[i], &lv.PollRTT); err != nil {
				return lv, fmt.Errorf("%s, %s: %w", reactionKinds[i].Name, lv.Load, err)
			}
			lv.Results[i].Elapsed += time.Since(t)
		}
	}
	lv.Busy = machineCPU().busySince(cpu0)
	lv.Elapsed = time.Since(began)
	if pb != nil {
		if err := pb.EndRun(); err != nil {
			return lv, err
		}
		sum, err := pb.Wait()
		if err != nil {
			return lv, err
		}
		lv.TPS, lv.Aborted = sum.TPS, sum.Aborted
	}
	return lv, nil
}

// share is round's part of n trials spread over reactionRounds rounds.
func share(n, round int) int {
	return n*(round+1)/reactionRounds - n*round/reactionRounds
}

// round runs round's share of kind k's trials: the cancels on the kind's
// own victim connection, the terminates on fresh ones dialled first.
func (rx *reactor) round(ctx context.Context, k *reactionKind, round int, v *pgconn.PgConn, res *reactionResult, rtt *durations) error {
	scaled := func(n int) int { return share(max(1, int(float64(n)*rx.scale+0.5)), round) }
	if k.Lock {
		if _, err := rx.holder.Exec(ctx, lockHolderSQL).ReadAll(); err != nil {
			return fmt.Errorf("hold the row lock: %w", err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reactionBound)
			defer cancel()
			_, _ = rx.holder.Exec(rctx, "ROLLBACK").ReadAll()
		}()
	}
	for i := 0; i < scaled(k.Cancels); i++ {
		if err := rx.cancelTrial(ctx, k, v, res, rtt); err != nil {
			return err
		}
	}
	plain, wait := scaled(k.Terminates), scaled(k.TerminatesWait)
	if plain+wait == 0 {
		return nil
	}
	fresh, err := rx.victims.dial(ctx, victimApp, plain+wait)
	if err != nil {
		return err
	}
	defer closeAll(fresh)
	for i, c := range fresh {
		if err := rx.terminateTrial(ctx, k, c, i >= plain, res, rtt); err != nil {
			return err
		}
	}
	return nil
}

// activityRow is what a poll reads of the victim's pg_stat_activity row.
type activityRow struct {
	State, WaitType, Query string
	QueryStart             *time.Time
}

// pollSQL reads one backend's row. Each call is its own transaction, so
// every poll sees a fresh copy of the backends' status.
const pollSQL = `SELECT coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(query, ''), query_start
FROM pg_stat_activity WHERE pid = $1`

// poll reads pid's row; found is false when there is none.
func (rx *reactor) poll(ctx context.Context, pid uint32) (r activityRow, found bool, err error) {
	err = rx.watch.QueryRow(ctx, pollSQL, int32(pid)).Scan(&r.State, &r.WaitType, &r.Query, &r.QueryStart)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// running reports whether the row shows k's statement under way.
func (k *reactionKind) running(r activityRow) bool {
	return r.State == "active" && r.Query == k.SQL && r.QueryStart != nil && (!k.Lock || r.WaitType == "Lock")
}

// clientSaw is what the victim's client received for its statement.
type clientSaw struct {
	ErrAt, ReadyAt time.Time // zero if not received
	Code           string    // SQLSTATE of the first error
	Err            error     // the connection failed or was closed
}

// startStatement sends sql on c with the simple protocol and reads the
// server's answer in the background, noting when the first error and
// ReadyForQuery arrived (pgconn's own calls would report the error only
// with ReadyForQuery).
func startStatement(ctx context.Context, c *pgconn.PgConn, sql string) (<-chan clientSaw, error) {
	c.Frontend().SendQuery(&pgproto3.Query{String: sql})
	if err := c.Frontend().Flush(); err != nil {
		return nil, fmt.Errorf("send the statement: %w", err)
	}
	ch := make(chan clientSaw, 1)
	go func() {
		var saw clientSaw
		for {
			msg, err := c.ReceiveMessage(ctx)
			now := time.Now()
			if err != nil {
				// A FATAL error (a terminate) comes back as an error and
				// closes the connection.
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && saw.ErrAt.IsZero() {
					saw.ErrAt, saw.Code = now, pgErr.Code
				}
				saw.Err = err
				ch <- saw
				return
			}
			switch m := msg.(type) {
			case *pgproto3.ErrorResponse:
				if saw.ErrAt.IsZero() {
					saw.ErrAt, saw.Code = now, m.Code
				}
			case *pgproto3.ReadyForQuery:
				saw.ReadyAt = now
				ch <- saw
				return
			}
		}
	}()
	return ch, nil
}

// stage runs k's statement on c and returns once pg_stat_activity shows
// it running (and, for a Settle kind, a little later), with its
// query_start.
func (rx *reactor) stage(ctx context.Context, k *reactionKind, c *pgconn.PgConn) (<-chan clientSaw, time.Time, error) {
	if k.Before != "" {
		if _, err := c.Exec(ctx, k.Before).ReadAll(); err != nil {
			return nil, time.Time{}, fmt.Errorf("prepare: %w", err)
		}
	}
	saw, err := startStatement(ctx, c, k.SQL)
	if err != nil {
		return nil, time.Time{}, err
	}
	deadline := time.Now().Add(reactionBound)
	for {
		r, found, err := rx.poll(ctx, c.PID())
		if err != nil {
			return nil, time.Time{}, err
		}
		if found && k.running(r) {
			if k.Settle {
				if err := pause(ctx, 5*time.Millisecond+time.Duration(rx.rng.Int64N(int64(20*time.Millisecond)))); err != nil {
					return nil, time.Time{}, err
				}
			}
			return saw, *r.QueryStart, nil
		}
		select {
		case s := <-saw:
			return nil, time.Time{}, fmt.Errorf("the statement ended before it was signalled (SQLSTATE %q, %v)", s.Code, s.Err)
		default:
		}
		if time.Now().After(deadline) {
			return nil, time.Time{}, fmt.Errorf("pid %d not seen running within %s (last: state %q, wait %q)", c.PID(), reactionBound, r.State, r.WaitType)
		}
		if err := pause(ctx, time.Millisecond); err != nil {
			return nil, time.Time{}, err
		}
	}
}

// await waits for what the client saw, within reactionBound.
func await(ctx context.Context, saw <-chan clientSaw) (clientSaw, error) {
	select {
	case s := <-saw:
		return s, nil
	case <-ctx.Done():
		return clientSaw{}, ctx.Err()
	case <-time.After(reactionBound):
		return clientSaw{}, fmt.Errorf("the client heard nothing within %s", reactionBound)
	}
}

// cancelTrial cancels k's statement on v, which survives for the next
// trial.
func (rx *reactor) cancelTrial(ctx context.Context, k *reactionKind, v *pgconn.PgConn, res *reactionResult, rtt *durations) error {
	saw, queryStart, err := rx.stage(ctx, k, v)
	if err != nil {
		return err
	}
	pid := v.PID()
	call := time.Now()
	var ok bool
	if err := rx.watch.QueryRow(ctx, "SELECT pg_cancel_backend($1)", int32(pid)).Scan(&ok); err != nil {
		return err
	}
	t0 := time.Now()
	if !ok {
		return fmt.Errorf("pg_cancel_backend(%d) returned false", pid)
	}
	for polls := 1; ; polls++ {
		sent := time.Now()
		r, found, err := rx.poll(ctx, pid)
		seen := time.Now()
		*rtt = append(*rtt, seen.Sub(sent))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("pid %d gone after a cancel", pid)
		}
		if r.State != "active" || r.QueryStart == nil || !r.QueryStart.Equal(queryStart) {
			res.Stopped = append(res.Stopped, seen.Sub(t0))
			if polls == 1 {
				res.FirstPoll++
			}
			break
		}
		if seen.Sub(t0) > reactionBound {
			return fmt.Errorf("pid %d still running its statement %s after pg_cancel_backend", pid, reactionBound)
		}
	}
	s, err := await(ctx, saw)
	if err != nil {
		return err
	}
	if s.Code != "57014" || s.ReadyAt.IsZero() {
		return fmt.Errorf("after a cancel the client got SQLSTATE %q (ready: %t, %v), want 57014", s.Code, !s.ReadyAt.IsZero(), s.Err)
	}
	res.CancelCall = append(res.CancelCall, t0.Sub(call))
	res.ClientErr = append(res.ClientErr, s.ErrAt.Sub(t0))
	res.Ready = append(res.Ready, s.ReadyAt.Sub(t0))
	if k.After != "" {
		if _, err := v.Exec(ctx, k.After).ReadAll(); err != nil {
			return fmt.Errorf("after the cancel: %w", err)
		}
	}
	return nil
}

// terminateTrial terminates the backend of c while it runs k's statement,
// with pg_terminate_backend(pid) and polls until its row is gone, or with
// pg_terminate_backend(pid, 5000), timed from call to return.
func (rx *reactor) terminateTrial(ctx context.Context, k *reactionKind, c *pgconn.PgConn, wait bool, res *reactionResult, rtt *durations) error {
	saw, _, err := rx.stage(ctx, k, c)
	if err != nil {
		return err
	}
	pid := c.PID()
	call := time.Now()
	var ok bool
	if wait {
		if err := rx.watch.QueryRow(ctx, "SELECT pg_terminate_backend($1, $2::bigint)", int32(pid), terminateWait).Scan(&ok); err != nil {
			return err
		}
		res.WaitCall = append(res.WaitCall, time.Since(call))
		if !ok {
			res.WaitFalse++
		}
		if _, found, err := rx.poll(ctx, pid); err != nil {
			return err
		} else if found {
			res.WaitStillThere++
		}
	} else {
		if err := rx.watch.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&ok); err != nil {
			return err
		}
		t0 := time.Now()
		if !ok {
			return fmt.Errorf("pg_terminate_backend(%d) returned false", pid)
		}
		for {
			sent := time.Now()
			_, found, err := rx.poll(ctx, pid)
			seen := time.Now()
			*rtt = append(*rtt, seen.Sub(sent))
			if err != nil {
				return err
			}
			if !found {
				res.Gone = append(res.Gone, seen.Sub(t0))
				break
			}
			if seen.Sub(t0) > reactionBound {
				return fmt.Errorf("pid %d still in pg_stat_activity %s after pg_terminate_backend", pid, reactionBound)
			}
		}
		s, err := await(ctx, saw)
		if err != nil {
			return err
		}
		if s.Code != "57P01" {
			return fmt.Errorf("after a terminate the client got SQLSTATE %q (%v), want 57P01", s.Code, s.Err)
		}
		res.TermClient = append(res.TermClient, s.ErrAt.Sub(t0))
		return nil
	}
	if _, err := await(ctx, saw); err != nil {
		return err
	}
	return nil
}

// printReaction prints one row per kind, load level and measure.
func printReaction(w io.Writer, levels []reactionLevel) {
	rows := [][]string{{"kind", "load", "measure", "trials", "p50", "p99", "p99.9", "max"}}
	add := func(r *reactionResult, measure string, d durations) {
		if len(d) == 0 {
			return
		}
		p999 := "(n < 1000)"
		if len(d) >= 1000 {
			p999 = ms(d.quantile(0.999))
		}
		rows = append(rows, []string{r.Kind, r.Load, measure, fmt.Sprint(len(d)),
			ms(d.median()), ms(d.quantile(0.99)), p999, ms(d.max())})
	}
	for _, lv := range levels {
		for _, r := range lv.Results {
			add(r, "cancel → seen stopped", r.Stopped)
			add(r, "cancel → client 57014", r.ClientErr)
			add(r, "cancel → client ReadyForQuery", r.Ready)
			add(r, "terminate → seen gone", r.Gone)
			add(r, "terminate → client 57P01", r.TermClient)
			add(r, fmt.Sprintf("pg_terminate_backend(pid, %d) call", terminateWait), r.WaitCall)
		}
	}
	fmt.Fprintln(w)
	table(w, "  ", rows)
	fmt.Fprintln(w)
	for _, lv := range levels {
		for _, r := range lv.Results {
			fmt.Fprintf(w, "  %s, %s: %s; pg_cancel_backend call median %s; first poll already saw it stopped in %d of %d cancels",
				r.Kind, r.Load, r.Elapsed.Round(100*time.Millisecond), ms(r.CancelCall.median()), r.FirstPoll, len(r.Stopped))
			if len(r.WaitCall) > 0 {
				fmt.Fprintf(w, "; pg_terminate_backend(pid, %d): %d of %d returned false, row still there after %d", terminateWait, r.WaitFalse, len(r.WaitCall), r.WaitStillThere)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "  times run from the signalling call returning true (negative: the client heard before the call returned);")
	fmt.Fprintln(w, "  \"seen\" is the arrival of the first back-to-back poll of pg_stat_activity that showed it")
}

// runReaction is `-only reaction`: the reaction-time part alone, on a
// sandbox cluster of its own with the bench's settings.
func runReaction(ctx context.Context, w io.Writer, scale float64) (err error) {
	began := time.Now()
	m := describeMachine()
	fmt.Fprintln(w, "pgrunbook bench, reaction times only")
	before := machineCPU()
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	fmt.Fprintf(w, "machine: %s; %.0f%% busy before the bench (load average %s)\n", m, machineCPU().busySince(before), loadAvg())
	cluster, ctl, version, err := startBenchServer(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stopBenchServer(cluster, ctl); serr != nil && err == nil {
			err = serr
		}
	}()
	m.Postgres = version
	fmt.Fprintf(w, "  PostgreSQL %s, max_connections 2300, shared_buffers 128MB, fsync off, autovacuum off\n", m.Postgres)
	if _, err := reactionTimes(ctx, w, cluster, ctl, scale); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nreaction times done in %s (load average now %s)\n", time.Since(began).Round(time.Second), loadAvg())
	return nil
}
