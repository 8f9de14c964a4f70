package engine_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// TestSnapshotThatCannotFinishEndsCleanly holds a lock that reading
// pg_stat_activity needs (the view joins pg_authid): the snapshot hits
// pgrunbook's lock_timeout and the run ends with a clear error, exit 1 and
// a closed transcript, instead of hanging. It uses a cluster of its own,
// since the lock would stall every other test's logins.
func TestSnapshotThatCannotFinishEndsCleanly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	client, err := pg.Connect(ctx, pg.Options{DSN: c.DSN("postgres"), LockTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	locker, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	tw, err := transcript.Create(filepath.Join(t.TempDir(), "run.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	var shown bytes.Buffer
	rd := &render.Renderer{W: &shown}
	db := &snapshotErrors{Client: client}
	res, err := engine.Run(ctx, engine.Options{
		Playbook: builtin(t, "cancel-long-queries"), Params: mustResolve(t, "cancel-long-queries"),
		DB: db, Mode: engine.Yes, Transcript: tw, Show: rd.Event,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != engine.ExitFailed || res.Outcome != engine.OutcomeError {
		t.Fatalf("exit %d outcome %s, want 1 error", res.ExitCode, res.Outcome)
	}
	// 55P03 is lock_not_available, what lock_timeout ends a statement with.
	if code := pg.SQLState(db.last); code != "55P03" {
		t.Errorf("the snapshot failed with %v (SQLSTATE %q), want SQLSTATE 55P03 (lock_timeout)", db.last, code)
	}
	if res.Message == "" || !strings.Contains(shown.String(), "Finished: error (exit 1)") {
		t.Errorf("message %q / output do not say what happened:\n%s", res.Message, shown.String())
	}
}

// snapshotErrors is the run's client, keeping the last error Snapshot
// returned so that the test can classify it by SQLSTATE.
type snapshotErrors struct {
	*pg.Client
	last error
}

func (d *snapshotErrors) Snapshot(ctx context.Context) (*activity.Snapshot, error) {
	snap, err := d.Client.Snapshot(ctx)
	if err != nil {
		d.last = err
	}
	return snap, err
}

func mustResolve(t *testing.T, name string) map[string]any {
	t.Helper()
	vals, err := builtin(t, name).Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}
