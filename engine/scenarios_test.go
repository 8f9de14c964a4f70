package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestLongQueryIsCancelledAndItsSessionStays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "longq")
	dsn := pgtest.DSNFor(db)
	load := startLoad(t, db, 6)
	long := stage(incident.LongQuery(ctx, dsn, "report", time.Minute))
	bystander := stage(incident.Idle(ctx, dsn, "bystander"))
	// Let the report outgrow min_runtime; pgbench statements never do.
	pgtest.AwaitQueryRuntime(t, ctx, dsn, time.Second, long.PID)

	r := runPlaybook(t, builtin(t, "cancel-long-queries"), engine.Yes, nil, "min_runtime=900ms", "database="+db)
	load.check(t, r)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", r.res.ExitCode, r.res.Message)
	}
	if got := r.actions("pg_cancel_backend"); got[long.PID] != "signalled" || len(got) != 1 {
		t.Errorf("cancel actions = %v, want only pid %d signalled", got, long.PID)
	}
	if got := r.actions("pg_terminate_backend"); len(got) != 0 {
		t.Errorf("terminate actions = %v, want none", got)
	}
	pgtest.WaitDone(t, long, "long query")
	if code := pg.SQLState(long.Err()); code != "57014" {
		t.Errorf("long query ended with %v, want SQLSTATE 57014 (query_canceled)", long.Err())
	}
	if !long.Alive(ctx) {
		t.Error("the cancelled query's session was disconnected; cancel must leave it connected")
	}
	if !bystander.Alive(ctx) {
		t.Error("the idle bystander was disconnected")
	}
	r.assertUntouched(t, "idle bystander", bystander.PID)
}

func TestStubbornQueryIsEscalatedToTerminate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "stubborn")
	dsn := pgtest.DSNFor(db)
	load := startLoad(t, db, 6)
	stubborn := stage(incident.StubbornQuery(ctx, dsn, "etl", time.Minute))
	bystander := stage(incident.Idle(ctx, dsn, "bystander"))
	// Let the statement outgrow min_runtime; pgbench statements never do.
	pgtest.AwaitQueryRuntime(t, ctx, dsn, time.Second, stubborn.PID)

	r := runPlaybook(t, builtin(t, "cancel-long-queries"), engine.Yes, nil, "min_runtime=900ms", "database="+db)
	load.check(t, r)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", r.res.ExitCode, r.res.Message)
	}
	if got := r.actions("pg_cancel_backend")[stubborn.PID]; got != "signalled" {
		t.Errorf("cancel of the stubborn query: %q, want signalled", got)
	}
	if v := r.verified(t, "stopped"); !slices.Contains(v.Failed, stubborn.PID) {
		t.Errorf("verify after cancel: failed=%v, want it to contain %d", v.Failed, stubborn.PID)
	}
	if got := r.actions("pg_terminate_backend")[stubborn.PID]; got != "signalled" {
		t.Errorf("terminate of the stubborn query: %q, want signalled", got)
	}
	if v := r.verified(t, "gone"); !slices.Contains(v.Passed, stubborn.PID) || len(v.Failed) != 0 {
		t.Errorf("verify gone: passed=%v failed=%v", v.Passed, v.Failed)
	}
	pgtest.WaitDone(t, stubborn, "stubborn query")
	if code := pg.SQLState(stubborn.Err()); code != "57P01" {
		t.Errorf("stubborn query ended with %v, want SQLSTATE 57P01 (admin_shutdown)", stubborn.Err())
	}
	if !bystander.Alive(ctx) {
		t.Error("the idle bystander was disconnected")
	}
	r.assertUntouched(t, "idle bystander", bystander.PID)
}

func TestIdleInTransactionRootIsTerminatedAndWritersCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "lockchain")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "accounts", 3); err != nil {
		t.Fatal(err)
	}
	load := startLoad(t, db, 6)
	root := stage(incident.IdleInTransaction(ctx, dsn, "forgot-to-commit", "accounts", 1))
	w1 := stage(incident.Writer(ctx, dsn, "writer1", "accounts", 1))
	w2 := stage(incident.Writer(ctx, dsn, "writer2", "accounts", 1))
	bystander := stage(incident.Idle(ctx, dsn, "bystander"))
	// pgbench's own short lock waits must not count as a lock chain: let
	// the writers outgrow min_wait, which pgbench's waits never do.
	pgtest.AwaitQueryRuntime(t, ctx, dsn, time.Second, w1.PID, w2.PID)

	r := runPlaybook(t, builtin(t, "unblock-lock-chain"), engine.Yes, nil, "min_wait=900ms", "database="+db)
	load.check(t, r)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", r.res.ExitCode, r.res.Message)
	}
	if got := r.signalled(); len(got) != 1 || got[0] != root.PID {
		t.Fatalf("signalled %v, want only the root %d", got, root.PID)
	}
	if got := r.actions("pg_terminate_backend")[root.PID]; got != "signalled" {
		t.Errorf("terminate of the root: %q", got)
	}
	for i, w := range []*incident.Session{w1, w2} {
		pgtest.WaitDone(t, w, fmt.Sprintf("writer %d", i+1))
		if w.Err() != nil {
			t.Errorf("writer %d did not commit: %v", i+1, w.Err())
		}
	}
	if root.Alive(ctx) {
		t.Error("the idle-in-transaction root is still connected")
	}
	if v := r.verified(t, "unblocked"); len(v.Failed) != 0 {
		t.Errorf("waiters still blocked after the run: %v", v.Failed)
	}
	if !bystander.Alive(ctx) {
		t.Error("the idle bystander was disconnected")
	}
	r.assertUntouched(t, "writers and bystander", w1.PID, w2.PID, bystander.PID)
}

func TestTerminateIdleInTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "idletx")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "orders", 2); err != nil {
		t.Fatal(err)
	}
	idle := stage(incident.IdleInTransaction(ctx, dsn, "psql", "orders", 2))
	bystander := stage(incident.Idle(ctx, dsn, "bystander"))

	r := runPlaybook(t, builtin(t, "terminate-idle-in-transaction"), engine.Yes, nil, "min_idle=0s", "database="+db)

	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d (%s), want 0", r.res.ExitCode, r.res.Message)
	}
	if got := r.actions("pg_terminate_backend"); len(got) != 1 || got[idle.PID] != "signalled" {
		t.Errorf("terminate actions = %v, want only %d", got, idle.PID)
	}
	if idle.Alive(ctx) {
		t.Error("the idle-in-transaction session is still connected")
	}
	r.assertUntouched(t, "idle bystander", bystander.PID)
}

func TestDryRunUnderPgbenchLoadChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "bench")
	dsn := pgtest.DSNFor(db)
	load := startLoad(t, db, 12)
	long := stage(incident.LongQuery(ctx, dsn, "report", time.Minute))
	idleTx := stage(func() (*incident.Session, error) {
		if err := incident.CreateLockTable(ctx, dsn, "locks", 1); err != nil {
			return nil, err
		}
		return incident.IdleInTransaction(ctx, dsn, "forgot", "locks", 1)
	}())

	var dryActions int
	for _, name := range []string{"cancel-long-queries", "terminate-idle-in-transaction", "unblock-lock-chain"} {
		r := runPlaybook(t, builtin(t, name), engine.DryRun, nil, "database="+db, zeroThreshold(name))
		if r.res.ExitCode != engine.ExitOK {
			t.Errorf("%s --dry-run: exit %d (%s)", name, r.res.ExitCode, r.res.Message)
		}
		for _, ev := range r.events {
			if ev.Type == transcript.Action {
				dryActions++
				if ev.Outcome != "dry_run" {
					t.Errorf("%s: a dry run recorded outcome %q for pid %d", name, ev.Outcome, ev.PID)
				}
			}
			if ev.Type == transcript.Prompt && ev.By != transcript.ByDryRun {
				t.Errorf("%s: a dry-run prompt was answered by %q", name, ev.By)
			}
		}
		// pgbench clients do appear as would-be targets here (min_runtime
		// is 0s), which is fine for a dry run: the check below proves that
		// none of them was signalled.
		for _, ev := range r.events {
			if ev.Type == transcript.Action && ev.Outcome != "dry_run" {
				t.Errorf("%s signalled pid %d", name, ev.PID)
			}
		}
	}
	if dryActions == 0 {
		t.Error("the dry runs recorded no action at all; they should show what a real run would do")
	}
	load.check(t, run{})
	select {
	case <-long.Done():
		t.Errorf("the long query ended during a dry run: %v", long.Err())
	default:
	}
	if !idleTx.Alive(ctx) {
		t.Error("the idle-in-transaction session was disconnected by a dry run")
	}
}

func zeroThreshold(name string) string {
	switch name {
	case "cancel-long-queries":
		return "min_runtime=0s"
	case "terminate-idle-in-transaction":
		return "min_idle=0s"
	}
	return "min_wait=0s"
}
