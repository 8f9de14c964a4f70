package pg

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestSnapshotSeesLongQuery(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_snap_long")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-snap-long", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	// The truth, read independently on the control connection.
	var usename string
	var queryStart time.Time
	err := db.ctl.QueryRow(ctx, "SELECT usename, query_start FROM pg_stat_activity WHERE pid = $1", lq.PID).
		Scan(&usename, &queryStart)
	if err != nil {
		t.Fatal(err)
	}

	snap := snapshot(t, ctx, c)
	if snap.Taken.IsZero() {
		t.Error("snapshot has no Taken time")
	}
	if !sort.SliceIsSorted(snap.Rows, func(i, j int) bool { return snap.Rows[i].PID < snap.Rows[j].PID }) {
		t.Error("rows are not ordered by pid")
	}

	r := mustRow(t, snap, lq.PID, "the long query")
	if !r.BackendStart.Equal(lq.BackendStart) {
		t.Errorf("backend_start %v, want %v", r.BackendStart, lq.BackendStart)
	}
	if !r.QueryStart.Equal(queryStart) {
		t.Errorf("query_start %v, want %v", r.QueryStart, queryStart)
	}
	if r.State != "active" || r.ApplicationName != "pgrb-snap-long" || r.Datname != db.name ||
		r.Usename != usename || r.Query != lq.Query || r.BackendType != activity.ClientBackend {
		t.Errorf("row = state %q app %q datname %q usename %q query %q backend_type %q; want active, pgrb-snap-long, %s, %s, %q, client backend",
			r.State, r.ApplicationName, r.Datname, r.Usename, r.Query, r.BackendType, db.name, usename, lq.Query)
	}
	if r.XactStart.IsZero() || r.StateChange.IsZero() {
		t.Errorf("xact_start %v / state_change %v not filled", r.XactStart, r.StateChange)
	}
	if r.ClientAddr == "" && r.ClientPort == 0 {
		// Over TCP both are set; over a Unix socket client_port is -1.
		t.Errorf("client fields empty: addr %q port %d", r.ClientAddr, r.ClientPort)
	}
	if r.QueryRuntime <= 0 || r.QueryRuntime != snap.Taken.Sub(r.QueryStart) {
		t.Errorf("query_runtime %v, want Taken-query_start = %v (> 0)", r.QueryRuntime, snap.Taken.Sub(r.QueryStart))
	}
	if r.BackendRuntime < r.QueryRuntime || r.XactRuntime <= 0 {
		t.Errorf("backend_runtime %v / xact_runtime %v inconsistent with query_runtime %v", r.BackendRuntime, r.XactRuntime, r.QueryRuntime)
	}
	if r.IsSelf || r.Hidden() || r.BlockedBy != nil || r.Blocking != 0 || r.IsRootBlocker {
		t.Errorf("long query row wrongly flagged: %+v", r)
	}

	// Our own row, exactly one, marked.
	var self []activity.Session
	for _, s := range snap.Rows {
		if s.IsSelf {
			self = append(self, s)
		}
	}
	if len(self) != 1 {
		t.Fatalf("%d rows marked IsSelf, want 1", len(self))
	}
	me := self[0]
	if me.PID != c.Info().PID || me.ApplicationName != ApplicationName || me.BackendType != activity.ClientBackend ||
		me.State != "active" || me.Datname != db.name {
		t.Errorf("own row = pid %d app %q type %q state %q db %q; want pid %d, %s, client backend, active, %s",
			me.PID, me.ApplicationName, me.BackendType, me.State, me.Datname, c.Info().PID, ApplicationName, db.name)
	}
	// Our own statement started at the snapshot's time.
	if !me.QueryStart.Equal(snap.Taken) || me.QueryRuntime != 0 {
		t.Errorf("own query_start %v, runtime %v; want Taken %v and 0", me.QueryStart, me.QueryRuntime, snap.Taken)
	}

	// backend_type is filled for every visible row, and the server's own
	// processes are there too, never marked as ours.
	types := map[string]int{}
	for _, s := range snap.Rows {
		if s.BackendType == "" {
			t.Errorf("row pid %d has no backend_type: %+v", s.PID, s)
		}
		types[s.BackendType]++
	}
	for _, bt := range []string{"checkpointer", "background writer", "walwriter"} {
		p := rowOfType(snap, bt)
		if p == nil {
			t.Errorf("no %s in the snapshot (backend types seen: %v)", bt, types)
			continue
		}
		if p.IsSelf || p.Datname != "" || p.BackendStart.IsZero() || p.Hidden() {
			t.Errorf("%s row: %+v", bt, p)
		}
	}
}

func TestSnapshotLockBlocking(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_snap_lock")
	if err := incident.CreateLockTable(ctx, db.dsn, "locks", 2); err != nil {
		t.Fatal(err)
	}
	holder := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-holder", "locks", 1))
	writer := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer", "locks", 1))
	// A second writer queues behind the first (which holds the row's tuple
	// lock): a chain holder <- writer <- writer2.
	writer2 := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer2", "locks", 1))
	// A long query on another row waits on nothing.
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-bystander", longQuery))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	snap := snapshot(t, ctx, c)
	h := mustRow(t, snap, holder.PID, "holder")
	w := mustRow(t, snap, writer.PID, "writer")
	w2 := mustRow(t, snap, writer2.PID, "writer2")
	b := mustRow(t, snap, lq.PID, "bystander")

	if h.State != "idle in transaction" || h.XactStart.IsZero() || h.BackendXID == "" {
		t.Errorf("holder: state %q xact_start %v backend_xid %q", h.State, h.XactStart, h.BackendXID)
	}
	if w.State != "active" || w.WaitEventType != "Lock" || w.WaitEvent != "transactionid" {
		t.Errorf("writer: state %q wait %s/%s, want active Lock/transactionid", w.State, w.WaitEventType, w.WaitEvent)
	}

	if !sameInts(w.BlockedBy, []int{holder.PID}) {
		t.Errorf("writer blocked_by %v, want [%d] (the holder)", w.BlockedBy, holder.PID)
	}
	if !sameInts(w.RootBlockers, []int{holder.PID}) || w.IsRootBlocker {
		t.Errorf("writer root_blockers %v is_root_blocker %v, want [%d] false", w.RootBlockers, w.IsRootBlocker, holder.PID)
	}
	if !slices.Contains(w2.BlockedBy, writer.PID) {
		t.Errorf("writer2 blocked_by %v, want it to contain writer %d", w2.BlockedBy, writer.PID)
	}
	if !sameInts(w2.RootBlockers, []int{holder.PID}) {
		t.Errorf("writer2 root_blockers %v, want [%d]", w2.RootBlockers, holder.PID)
	}
	if h.BlockedBy != nil || h.RootBlockers != nil || !h.IsRootBlocker || h.Blocking < 1 {
		t.Errorf("holder: blocked_by %v root_blockers %v is_root_blocker %v blocking %d; want none, none, true, >= 1",
			h.BlockedBy, h.RootBlockers, h.IsRootBlocker, h.Blocking)
	}
	if w.Blocking != 1 {
		t.Errorf("writer blocking %d, want 1 (writer2)", w.Blocking)
	}
	// blocked_by is read only for rows waiting on a lock.
	for _, r := range snap.Rows {
		if r.Datname != db.name || r.PID == writer.PID || r.PID == writer2.PID {
			continue
		}
		if r.BlockedBy != nil || r.RootBlockers != nil {
			t.Errorf("pid %d (%s, wait %q) has blocked_by %v root_blockers %v", r.PID, r.ApplicationName, r.WaitEventType, r.BlockedBy, r.RootBlockers)
		}
	}
	if b.Blocking != 0 || b.IsRootBlocker {
		t.Errorf("bystander: blocking %d is_root_blocker %v", b.Blocking, b.IsRootBlocker)
	}

	// Ending the holder releases the chain; a new snapshot shows it.
	holder.Close()
	pgtest.WaitDone(t, writer, writer.App)
	pgtest.WaitDone(t, writer2, writer2.App)
	if writer.Err() != nil || writer2.Err() != nil {
		t.Fatalf("writers failed after the holder ended: %v / %v", writer.Err(), writer2.Err())
	}
	snap = snapshot(t, ctx, c)
	for _, pid := range []int{writer.PID, writer2.PID} {
		if r := mustRow(t, snap, pid, "writer"); r.BlockedBy != nil || r.WaitEventType == "Lock" {
			t.Errorf("writer %d still shown waiting: %+v", pid, r)
		}
	}
}

// TestSnapshotIsFresh proves each Snapshot is its own transaction:
// pg_stat_activity is cached until the end of a transaction, so a client
// reading inside one long transaction would keep seeing the first state.
func TestSnapshotIsFresh(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_snap_fresh")
	gone := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-gone"))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	first := snapshot(t, ctx, c)
	mustRow(t, first, gone.PID, "the session about to end")
	if tx := c.conn.PgConn().TxStatus(); tx != 'I' {
		t.Errorf("after Snapshot the connection is in transaction status %q, want idle 'I'", tx)
	}

	// Between the two snapshots, one session ends and another starts.
	if _, err := db.ctl.Exec(ctx, "SELECT pg_terminate_backend($1)", gone.PID); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitGone(t, ctx, db.ctl, gone.PID)
	born := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-born"))

	second := snapshot(t, ctx, c)
	if r := row(second, gone.PID); r != nil && r.BackendStart.Equal(gone.BackendStart) {
		t.Errorf("second snapshot still shows the ended session %d: cached activity data", gone.PID)
	}
	if r := mustRow(t, second, born.PID, "the new session"); !r.BackendStart.Equal(born.BackendStart) {
		t.Errorf("new session's backend_start %v, want %v", r.BackendStart, born.BackendStart)
	}
	if !second.Taken.After(first.Taken) {
		t.Errorf("second snapshot taken at %v, not after the first at %v", second.Taken, first.Taken)
	}
	if tx := c.conn.PgConn().TxStatus(); tx != 'I' {
		t.Errorf("after Snapshot the connection is in transaction status %q, want idle 'I'", tx)
	}
}

// TestSnapshotOfReadsOnlyTheGivenSessions: SnapshotOf returns the rows of
// the pids asked for that exist, and, when sessions wait on locks, the
// rows of the lock chains, so that the lock facts are the whole server's.
// (Tests that run beside it stage lock chains of their own, in other
// databases: only this test's database is looked at.)
func TestSnapshotOfReadsOnlyTheGivenSessions(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_snap_of")
	lq := pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-of-long", longQuery))
	idle := pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-of-idle"))
	pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-of-other"))
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	const gone = 1 << 30 // no backend has this pid
	snap, err := c.SnapshotOf(ctx, []int{lq.PID, idle.PID, gone})
	if err != nil {
		t.Fatal(err)
	}
	// Other tests' lock chains, in their own databases, come too.
	ours := func(snap *activity.Snapshot) []int {
		var pids []int
		for _, r := range snap.Rows {
			if r.Datname == db.name {
				pids = append(pids, r.PID)
			}
		}
		return pids
	}
	pids := ours(snap)
	slices.Sort(pids)
	want := []int{lq.PID, idle.PID}
	slices.Sort(want)
	if !slices.Equal(pids, want) {
		t.Fatalf("SnapshotOf read pids %v, want %v", pids, want)
	}
	if r := mustRow(t, snap, lq.PID, "long query"); r.State != "active" || r.QueryStart.IsZero() || r.Query == "" {
		t.Errorf("long query row: %+v", r)
	}
	if snap.Taken.IsZero() {
		t.Error("a targeted snapshot has no time")
	}
	if snap, err = c.SnapshotOf(ctx, nil); err != nil || len(ours(snap)) != 0 {
		t.Errorf("SnapshotOf(nil): %v, %v; want none of this database's sessions", ours(snap), err)
	}

	// A lock chain: holder <- writer <- writer2.
	if err := incident.CreateLockTable(ctx, db.dsn, "locks", 1); err != nil {
		t.Fatal(err)
	}
	holder := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-of-holder", "locks", 1))
	writer := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-of-writer", "locks", 1))
	writer2 := pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-of-writer2", "locks", 1))
	if snap, err = c.SnapshotOf(ctx, []int{holder.PID, lq.PID}); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{lq.PID, writer.PID, writer2.PID} {
		mustRow(t, snap, pid, "a session asked for or in the lock chain")
	}
	if snap.Find(activity.Identity{PID: idle.PID, BackendStart: mustRow(t, snapshot(t, ctx, c), idle.PID, "idle").BackendStart}) != nil {
		t.Error("an idle session in no lock chain was read")
	}
	h := mustRow(t, snap, holder.PID, "the holder")
	if h.BlockingTotal != 2 || !h.IsRootBlocker || h.Blocking != 1 {
		t.Errorf("holder read alone with its chain: blocking %d, blocking_total %d, root %v; want 1, 2, true", h.Blocking, h.BlockingTotal, h.IsRootBlocker)
	}
}
