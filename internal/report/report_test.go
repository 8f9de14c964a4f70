package report

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

var (
	update      = flag.Bool("update", false, "rewrite the report golden files")
	recordFresh = flag.Bool("record", false, "record the scenario transcripts in testdata/report again from a real server")
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// goldenDir holds the scenario transcripts and their reports.
const goldenDir = "../../testdata/report"

// scenarios are the recorded runs whose reports are pinned.
var scenarios = map[string]func(ctx context.Context, t *testing.T) []byte{
	"stubborn-query":  stubbornScenario,
	"idle-lock-chain": lockChainScenario,
}

// TestReportGolden renders the report of each recorded scenario
// transcript, normalises times, durations, pids and the server, and
// compares it with the golden file next to the transcript.
func TestReportGolden(t *testing.T) {
	for name, record := range scenarios {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(goldenDir, name+".jsonl")
			if *recordFresh {
				if err := os.WriteFile(path, record(context.Background(), t), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (record it with go test ./internal/report -record -update)", err)
			}
			for _, redact := range []bool{false, true} {
				got := normalise(t, data, reportOf(t, data, "testdata/report/"+name+".jsonl", redact))
				golden := filepath.Join(goldenDir, name+".md")
				if redact {
					golden = filepath.Join(goldenDir, name+".redacted.md")
				}
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run make golden)", err)
				}
				if got != string(want) {
					t.Errorf("report differs from %s (run make golden if intended)\n--- got\n%s", golden, got)
				}
			}
		})
	}
}

// TestReportOfALiveRun reports on a run recorded now: the escalated
// session is in the actions, the time to mitigate is given, and with
// redaction no query text appears.
func TestReportOfALiveRun(t *testing.T) {
	data := stubbornScenario(context.Background(), t)
	rr, err := transcript.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var terminated int
	for _, ev := range rr.Events {
		if ev.Type == transcript.Action && ev.Function == activity.Terminate && ev.SignalOutcome() == activity.Signalled {
			terminated = ev.PID
		}
	}
	if terminated == 0 {
		t.Fatal("the live run terminated nothing")
	}
	out := reportOf(t, data, "live.jsonl", true)
	for _, want := range []string{
		"# Incident report: cancel-long-queries",
		"| Time to mitigate | ",
		" from the first snapshot (",
		"| " + strconv.Itoa(terminated) + " | ",
		"pg_terminate_backend | " + strconv.Itoa(terminated) + " | ",
		"- Hash chain: intact; head `sha256:",
		"protected by: application_name startsWith",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pg_sleep") || strings.Contains(out, "DO $stubborn$") {
		t.Errorf("a redacted report shows query text:\n%s", out)
	}
}

func TestReportRejectsAnEmptyTranscript(t *testing.T) {
	if err := Write(&bytes.Buffer{}, nil, Options{}); err == nil {
		t.Error("no error for no transcript")
	}
	if err := Write(&bytes.Buffer{}, &transcript.ReadResult{}, Options{}); err == nil {
		t.Error("no error for no events")
	}
}

// reportOf writes the report of a transcript's bytes.
func reportOf(t *testing.T, data []byte, name string, redact bool) string {
	t.Helper()
	rr, err := transcript.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if rr.Broken != nil {
		t.Fatalf("%s: %v", name, rr.Broken)
	}
	var out bytes.Buffer
	if err := Write(&out, rr, Options{Path: name, RedactQueries: redact}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

var (
	clockTimes = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC|Z)`)
	seconds    = regexp.MustCompile(`\b\d+\.\d{3}s\b`)
	shortTimes = regexp.MustCompile(`\b\d+(ms|\.\d+s|m\d\ds|h\d\dm)\b`)
	heads      = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	databases  = regexp.MustCompile(`\b(stubborn|lockchain)_[0-9a-f]+_\d+\b`)
	serverLine = regexp.MustCompile(`\| Server \| PostgreSQL [^|]*\|`)
	pgrunbookV = regexp.MustCompile(`pgrunbook [^,]*, its own backend pid \d+`)
	clientPort = regexp.MustCompile(`\b(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]|[0-9a-f:]*::[0-9a-f:]*):\d+\b`)
)

// normalise replaces what differs between recordings: times, durations,
// the chain's head, database names, the server, and pids (numbered in
// order of first appearance in the transcript).
func normalise(t *testing.T, data []byte, report string) string {
	t.Helper()
	s := clockTimes.ReplaceAllString(report, "<time>")
	s = seconds.ReplaceAllString(s, "<t>")
	s = shortTimes.ReplaceAllString(s, "<d>")
	s = heads.ReplaceAllString(s, "sha256:<head>")
	s = clientPort.ReplaceAllString(s, "$1:<port>")
	s = databases.ReplaceAllString(s, "<db>")
	s = serverLine.ReplaceAllString(s, "| Server | PostgreSQL <version> at <host>, database <db> |")
	s = pgrunbookV.ReplaceAllString(s, "pgrunbook <version>, its own backend pid <pid>")
	rr, err := transcript.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	seen := func(p int) {
		if p > 0 && !slices.Contains(pids, p) {
			pids = append(pids, p)
		}
	}
	for _, ev := range rr.Events {
		for _, r := range ev.Rows {
			seen(r.PID)
		}
		for _, x := range ev.Excluded {
			seen(x.Session.PID)
		}
		seen(ev.PID)
	}
	pid := regexp.MustCompile(`\b\d{2,7}\b`)
	return pid.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(m)
		if i := slices.Index(pids, n); i >= 0 {
			return "P" + strconv.Itoa(i+1)
		}
		return m
	})
}

// stubbornScenario: a statement that ignores cancel next to a pg_dump and
// an idle bystander; cancel-long-queries cancels it, sees it survive, and
// terminates it. Returns the transcript.
func stubbornScenario(ctx context.Context, t *testing.T) []byte {
	db := pgtest.CreateDatabase(t, "stubborn")
	dsn := pgtest.DSNFor(db)
	stage(t)(incident.StubbornQuery(ctx, dsn, "etl", time.Minute))
	stage(t)(incident.LongQuery(ctx, dsn, "pg_dump", time.Minute))
	stage(t)(incident.Idle(ctx, dsn, "bystander"))
	return runShipped(ctx, t, "cancel-long-queries", "min_runtime=0s", "database="+db)
}

// lockChainScenario: a session idle in its transaction holds a row lock a
// writer waits for; unblock-lock-chain terminates it and the writer goes
// on.
func lockChainScenario(ctx context.Context, t *testing.T) []byte {
	db := pgtest.CreateDatabase(t, "lockchain")
	dsn := pgtest.DSNFor(db)
	if err := incident.CreateLockTable(ctx, dsn, "stock", 1); err != nil {
		t.Fatal(err)
	}
	stage(t)(incident.IdleInTransaction(ctx, dsn, "checkout", "stock", 1))
	stage(t)(incident.Writer(ctx, dsn, "restock", "stock", 1))
	return runShipped(ctx, t, "unblock-lock-chain", "min_wait=0s", "database="+db)
}

func stage(t *testing.T) func(*incident.Session, error) {
	return func(s *incident.Session, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
	}
}

// runShipped runs a shipped playbook with --yes against the test server
// (connected to another database than the staged sessions') and returns
// its transcript.
func runShipped(ctx context.Context, t *testing.T, name string, sets ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	src, _ := playbooks.Source(name)
	pb, err := playbook.Parse("builtin:"+name, src)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pb.Resolve(sets)
	if err != nil {
		t.Fatal(err)
	}
	client, err := pg.Connect(ctx, pg.Options{DSN: pgtest.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(ctx)
	var buf bytes.Buffer
	tw := transcript.NewWriter(&buf)
	info := client.Info()
	res, err := engine.Run(ctx, engine.Options{
		Playbook: pb, Params: vals, DB: client, Mode: engine.Yes, Transcript: tw, Version: "test",
		Server: transcript.Server{Host: info.Host, Port: info.Port, User: info.User, Database: info.Database, Version: info.Version,
			BackendPID: info.PID, Superuser: info.Privileges.Superuser, SignalBackend: info.Privileges.SignalBackend, ReadAllStats: info.Privileges.ReadAllStats},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != engine.ExitOK {
		t.Fatalf("%s ended %s: %s", name, res.Outcome, res.Message)
	}
	return buf.Bytes()
}
