package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// of returns a run's events of one type (and step, when given).
func (r run) of(typ, step string) []transcript.Event {
	var out []transcript.Event
	for _, ev := range r.events {
		if ev.Type == typ && (step == "" || ev.Step == step) {
			out = append(out, ev)
		}
	}
	return out
}

// TestSamplesConfirmTheRootOnALiveServer: a root blocker that holds its
// lock through every sample is the one kept; the session it blocks is
// seen in every sample too, but is no root, and after the root is
// terminated it commits. Each sample is its own statement.
func TestSamplesConfirmTheRootOnALiveServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "samples")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "accounts", 1); err != nil {
		t.Fatal(err)
	}
	root := stage(incident.IdleInTransaction(ctx, dsn, "forgot-to-commit", "accounts", 1))
	writer := stage(incident.Writer(ctx, dsn, "queued", "accounts", 1))

	pb := parsePlaybook(t, `name: roots
params:
  database: {type: string}
steps:
  - id: roots
    activity: {samples: 3, interval: 100ms, stable: is_root_blocker && datname == params.database}
  - id: approved
    confirm: {targets: roots, action: terminate}
  - terminate: {targets: approved}
  - id: gone
    verify: {targets: approved, expect: gone, timeout: 10s}
`)
	r := runPlaybook(t, pb, engine.Yes, nil, "database="+db)
	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d: %s", r.res.ExitCode, r.res.Message)
	}
	snaps := r.of(transcript.Snapshot, "roots")
	if len(snaps) != 3 {
		t.Fatalf("%d snapshot events for 3 samples", len(snaps))
	}
	for i := 1; i < len(snaps); i++ {
		if !snaps[i].Taken.After(*snaps[i-1].Taken) {
			t.Errorf("sample %d was read at %v, not after sample %d (%v)", i+1, snaps[i].Taken, i, snaps[i-1].Taken)
		}
	}
	kept := r.of(transcript.Selected, "roots")
	if len(kept) != 1 || !slices.Equal(activity.PIDs(kept[0].Rows), []int{root.PID}) {
		t.Fatalf("kept %v, want only the root %d", kept, root.PID)
	}
	if !strings.Contains(kept[0].Text, "in all 3 samples, 100ms apart") {
		t.Errorf("kept text %q", kept[0].Text)
	}
	if got := r.actions("pg_terminate_backend"); got[root.PID] != "signalled" || len(got) != 1 {
		t.Errorf("terminate actions %v, want only the root", got)
	}
	pgtest.WaitDone(t, writer, "the queued writer")
	if writer.Err() != nil {
		t.Errorf("the writer failed after its blocker ended: %v", writer.Err())
	}
	r.assertUntouched(t, "the queued writer", writer.PID)
}

// TestSummarizeOnALiveServer groups the sessions of a database by
// application, and a condition picks the largest.
func TestSummarizeOnALiveServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "summary")
	dsn := pgtest.DSNFor(db)
	var web []int
	for range 3 {
		web = append(web, stage(incident.Idle(ctx, dsn, "summary-web")).PID)
	}
	etl := stage(incident.Idle(ctx, dsn, "summary-etl"))
	pb := parsePlaybook(t, `name: summary
params:
  database: {type: string}
steps:
  - id: snap
    activity:
  - id: mine
    filter: {where: datname == params.database}
  - id: apps
    summarize: {from: mine, by: [application_name, state]}
  - if: len(apps) == 2 && apps[0].application_name == "summary-web" && apps[0].count == 3 && apps[1].count == 1
    note: the web application holds the most connections
`)
	r := runPlaybook(t, pb, engine.Yes, nil, "database="+db)
	sums := r.of(transcript.Summary, "apps")
	if len(sums) != 1 || sums[0].Groups == nil {
		t.Fatalf("summary events %+v", sums)
	}
	g := sums[0].Groups
	if g.Sessions != 4 || len(g.Groups) != 2 || !slices.Equal(g.Groups[0].Key, []string{"summary-web", "idle"}) || g.Groups[0].Count != 3 {
		t.Fatalf("groups %+v", g)
	}
	pids := slices.Sorted(slices.Values(g.Groups[0].PIDs))
	if !slices.Equal(pids, slices.Sorted(slices.Values(web))) || !slices.Equal(g.Groups[1].PIDs, []int{etl.PID}) {
		t.Errorf("group pids %v and %v, want %v and [%d]", g.Groups[0].PIDs, g.Groups[1].PIDs, web, etl.PID)
	}
	if len(r.of(transcript.StepSkipped, "")) != 0 {
		t.Error("the condition on the groups was false")
	}
	if !strings.Contains(r.shown, "COUNT  APPLICATION_NAME  STATE") {
		t.Errorf("no summary table:\n%s", r.shown)
	}
}

// TestHorizonOnALiveServer: a prepared transaction holds the horizon; the
// horizon step lists it with the statement a DBA would run, a condition
// sees it, and nothing is signalled. Not parallel: the prepared
// transaction holds the xmin horizon of the whole cluster until it ends.
func TestHorizonOnALiveServer(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "horizon")
	gid := "pgrunbook engine test " + db
	prep := pgtest.ConnectTo(t, db)
	for _, sql := range []string{"BEGIN", "CREATE TABLE held (x int)", "PREPARE TRANSACTION '" + gid + "'"} {
		if _, err := prep.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		ctl := pgtest.ConnectTo(t, db)
		if _, err := ctl.Exec(context.Background(), "ROLLBACK PREPARED '"+gid+"'"); err != nil {
			t.Errorf("rolling back the prepared transaction: %v", err)
		}
	})
	pb := parsePlaybook(t, `name: horizon
params:
  gid: {type: string}
steps:
  - id: holders
    horizon:
  - id: found
    if: any(holders.prepared, .gid == params.gid && .prepared_runtime >= duration("0s")) && holders.autovacuum_freeze_max_age > 0
    note: the prepared transaction holds the horizon
`)
	r := runPlaybook(t, pb, engine.Yes, nil, "gid="+gid)
	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d: %s", r.res.ExitCode, r.res.Message)
	}
	hs := r.of(transcript.Horizon, "holders")
	if len(hs) != 1 || hs[0].Holders == nil {
		t.Fatalf("horizon events %+v", hs)
	}
	if !slices.ContainsFunc(hs[0].Holders.Prepared, func(p activity.PreparedXact) bool { return p.GID == gid && p.Database == db }) {
		t.Errorf("the prepared transaction is not listed: %+v", hs[0].Holders.Prepared)
	}
	if len(r.of(transcript.StepSkipped, "found")) != 0 {
		t.Error("the condition did not see the prepared transaction")
	}
	if len(r.signalled()) != 0 || len(r.of(transcript.Intent, "")) != 0 {
		t.Error("a horizon step signalled")
	}
	if !strings.Contains(r.shown, "ROLLBACK PREPARED '"+gid+"';") {
		t.Errorf("no guidance for the prepared transaction:\n%s", r.shown)
	}
}

// TestDefaultProtectionsOnALiveServer: a playbook with no protect rules
// spares a pg_dump session, says which default protected it, and spares
// it no more once it unprotects backups (in a dry run).
func TestDefaultProtectionsOnALiveServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "defaults")
	dsn := pgtest.DSNFor(db)
	backup := stage(incident.LongQuery(ctx, dsn, "pg_dump", time.Minute))
	report := stage(incident.LongQuery(ctx, dsn, "report", time.Minute))
	const src = `name: every-active
params:
  database: {type: string}
steps:
  - activity:
  - id: active
    filter: {where: state == "active" && datname == params.database}
  - id: approved
    confirm: {targets: active, action: cancel}
  - cancel: {targets: approved}
`
	r := runPlaybook(t, parsePlaybook(t, src), engine.Yes, nil, "database="+db)
	var reason string
	for _, ev := range r.of(transcript.Selected, "approved") {
		for _, x := range ev.Excluded {
			if x.Session.PID == backup.PID {
				reason = x.Reason
			}
		}
	}
	if reason != "protected by default: backups (application_name pg_dump)" {
		t.Errorf("the backup's exclusion reason is %q", reason)
	}
	if got := r.actions("pg_cancel_backend"); got[report.PID] != "signalled" || len(got) != 1 {
		t.Errorf("cancel actions %v, want only the report %d", got, report.PID)
	}
	if !backup.Alive(ctx) {
		t.Fatal("the backup's session is gone")
	}
	select {
	case <-backup.Done():
		t.Fatalf("the backup's statement ended: %v", backup.Err())
	default:
	}

	unprotected := strings.Replace(src, "steps:", "unprotect: [backups]\nsteps:", 1)
	r = runPlaybook(t, parsePlaybook(t, unprotected), engine.DryRun, nil, "database="+db)
	if got := r.actions("pg_cancel_backend"); got[backup.PID] != "dry_run" {
		t.Errorf("with unprotect: [backups] the dry run would not cancel the backup: %v", got)
	}
}

// TestTerminateTimeoutOnALiveServer: the terminate's timeout travels with
// the intent to the signalling statement; the verify after it sees the
// session gone.
func TestTerminateTimeoutOnALiveServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "waitfor")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "orders", 1); err != nil {
		t.Fatal(err)
	}
	idle := stage(incident.IdleInTransaction(ctx, dsn, "forgot", "orders", 1))
	pb := parsePlaybook(t, `name: waitfor
params:
  database: {type: string}
steps:
  - activity:
  - id: idle
    filter: {where: state == "idle in transaction" && datname == params.database}
  - id: approved
    confirm: {targets: idle, action: terminate}
  - terminate: {targets: approved, timeout: 2s}
  - id: gone
    verify: {targets: approved, expect: gone, timeout: 10s}
`)
	r := runPlaybook(t, pb, engine.Yes, nil, "database="+db)
	if r.res.ExitCode != engine.ExitOK {
		t.Fatalf("exit %d: %s", r.res.ExitCode, r.res.Message)
	}
	intents := r.of(transcript.Intent, "")
	// PostgreSQL 13 has no pg_terminate_backend(pid, timeout): the intent
	// says the timeout is ignored and the verify does the waiting.
	want := "waits up to 2s"
	if snaps := r.of(transcript.Snapshot, ""); len(snaps) > 0 && snaps[0].ServerFacts != nil && snaps[0].ServerFacts.VersionNum < 140000 {
		want = "ignored before PostgreSQL 14"
	}
	if len(intents) != 1 || intents[0].WaitFor != 2*time.Second || !strings.Contains(intents[0].Text, want) {
		t.Errorf("intent %+v, want its text to say %q", intents, want)
	}
	if v := r.verified(t, "gone"); !slices.Equal(v.Passed, []int{idle.PID}) {
		t.Errorf("verify gone: %+v", v)
	}
}

// fakeHost is a host sampler that marks the sessions of one application
// as busy, and fails when told to.
type fakeHost struct {
	app   string
	fail  error
	asked []int
}

func (h *fakeHost) Sample(_ context.Context, rows []activity.Session, _ time.Duration) error {
	for i := range rows {
		h.asked = append(h.asked, rows[i].PID)
		rows[i].HostStats = true
		if rows[i].ApplicationName == h.app {
			rows[i].CPUPercent = 99
		}
	}
	return h.fail
}

// TestHostStatsOnALiveServer: the sampler gets every row of the live
// snapshot and its facts reach filters; without a sampler a note says
// the facts are unavailable.
func TestHostStatsOnALiveServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := pgtest.Staged[*incident.Session](t)
	db := pgtest.CreateDatabase(t, "hoststats")
	dsn := pgtest.DSNFor(db)
	hog := stage(incident.Idle(ctx, dsn, "hog"))
	stage(incident.Idle(ctx, dsn, "quiet"))
	pb := parsePlaybook(t, `name: hosts
params:
  database: {type: string}
steps:
  - id: snap
    activity: {host_stats: true, host_interval: 10ms}
  - id: hot
    filter: {where: host_stats && cpu_percent > 50 && datname == params.database}
`)
	host := &fakeHost{app: "hog"}
	r := runPlaybookWith(t, pb, engine.Options{Mode: engine.Yes, Host: host}, "database="+db)
	if sel := r.of(transcript.Selected, "hot"); len(sel) != 1 || !slices.Equal(activity.PIDs(sel[0].Rows), []int{hog.PID}) {
		t.Errorf("hot %+v, want only %d", sel, hog.PID)
	}
	snap := r.of(transcript.Snapshot, "snap")
	if len(snap) != 1 || len(host.asked) != len(snap[0].Rows) {
		t.Errorf("the sampler was asked about %d rows of %d", len(host.asked), len(snap[0].Rows))
	}
	r = runPlaybook(t, pb, engine.Yes, nil, "database="+db)
	notes := r.of(transcript.Note, "snap")
	if len(notes) != 1 || !strings.HasPrefix(notes[0].Text, "host facts unavailable: the server is not on this host") {
		t.Errorf("notes %+v", notes)
	}
	if sel := r.of(transcript.Selected, "hot"); len(sel) != 1 || len(sel[0].Rows) != 0 {
		t.Errorf("without a sampler hot is %+v", sel)
	}
}

// TestNewStepsMakeOneStatementEach: a horizon step is one statement, a
// three-sample activity step three.
func TestNewStepsMakeOneStatementEach(t *testing.T) {
	t.Parallel()
	cr := runCounted(t, parsePlaybook(t, `name: counted
steps:
  - id: holders
    horizon:
  - id: sampled
    activity: {samples: 3, interval: 10ms}
  - id: apps
    summarize:
`))
	cr.wantCalls(t, "holders", "Horizon", 1)
	cr.wantCalls(t, "sampled", "Snapshot", 3)
	cr.wantCalls(t, "apps", "", 0)
	cr.wantOneStatementPerCall(t)
	cr.wantNothingElseOnTheWire(t)
}
