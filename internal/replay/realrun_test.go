package replay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestReplayOfARealRun records a real run of cancel-long-queries against
// PostgreSQL (three long statements, all cancelled), then replays its
// transcript: against the same playbook nothing differs; against a copy
// whose threshold sits between the second and third statement's runtime,
// exactly the third flips to spared.
func TestReplayOfARealRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := pgtest.CreateDatabase(t, "replay")
	dsn := pgtest.DSNFor(db)
	var staged []*incident.Session
	for _, app := range []string{"report-a", "report-b", "report-c"} {
		s, err := incident.LongQuery(ctx, dsn, app, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		staged = append(staged, s)
	}

	pb := shipped(t, "cancel-long-queries")
	events := recordRealRun(ctx, t, pb, "min_runtime=0s", "database="+db)
	cancelled := map[int]bool{}
	for _, ev := range events {
		if ev.Type == transcript.Action && ev.Outcome == "signalled" {
			cancelled[ev.PID] = true
		}
	}
	for _, s := range staged {
		if !cancelled[s.PID] {
			t.Fatalf("the real run did not cancel %s (pid %d); events: %d", s.App, s.PID, len(events))
		}
	}

	if c := against(t, events, pb, Options{}); !c.Identical() {
		t.Errorf("replay against the same playbook differs: %+v", c.Differences)
	}

	// A threshold between the runtimes report-b and report-c had when the
	// snapshot was taken: report-c started last, so it is the youngest.
	runtime := map[int]time.Duration{}
	for _, ev := range events {
		if ev.Type == transcript.Snapshot {
			for _, r := range ev.Rows {
				runtime[r.PID] = r.QueryRuntime
			}
			break
		}
	}
	b, c := staged[1], staged[2]
	if !(runtime[b.PID] > runtime[c.PID]) {
		t.Fatalf("runtimes b=%v c=%v: report-b started first, so it must be older", runtime[b.PID], runtime[c.PID])
	}
	mid := (runtime[b.PID] + runtime[c.PID]) / 2
	src := strings.Replace(string(pb.Source), "query_runtime >= params.min_runtime",
		fmt.Sprintf(`query_runtime >= params.min_runtime + duration(%q)`, mid.String()), 1)
	changed := parse(t, filepath.Join(t.TempDir(), "changed.yaml"), src)
	cmp := against(t, events, changed, Options{})
	if got := PIDs(cmp.Spared); !slices.Equal(got, []int{c.PID}) || len(cmp.Targeted) != 0 {
		t.Errorf("spared %v, targeted %v: want exactly report-c (pid %d) spared", got, cmp.Targeted, c.PID)
	}
	for _, d := range cmp.Differences {
		if !strings.Contains(d.Text, fmt.Sprintf("pid %d ", c.PID)) && !strings.Contains(d.Text, "question") && !strings.Contains(d.Text, "answer") {
			t.Errorf("a difference that is not about report-c: %+v", d)
		}
	}
}

// recordRealRun runs pb with --yes against the test server and returns
// its transcript as written to disk.
func recordRealRun(ctx context.Context, t *testing.T, pb *playbook.Playbook, sets ...string) []transcript.Event {
	t.Helper()
	vals, err := pb.Resolve(sets)
	if err != nil {
		t.Fatal(err)
	}
	// pgrunbook connects to another database than the staged sessions',
	// so its own session is not among the candidates.
	client, err := pg.Connect(ctx, pg.Options{DSN: pgtest.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	path := filepath.Join(t.TempDir(), "run.jsonl")
	tw, err := transcript.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info := client.Info()
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: engine.Yes, Transcript: tw,
		Server: transcript.Server{Host: info.Host, Port: info.Port, User: info.User, Database: info.Database,
			Version: info.Version, BackendPID: info.PID, Superuser: info.Privileges.Superuser},
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if res.ExitCode != engine.ExitOK {
		t.Fatalf("the real run ended %s (exit %d): %s", res.Outcome, res.ExitCode, res.Message)
	}
	rr, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Broken != nil {
		t.Fatalf("the real run's hash chain: %v", rr.Broken)
	}
	return rr.Events
}
