//go:build linux

package cli_test

// Acceptance tests through a real PgBouncer in front of the test server:
// pgrunbook refuses to run through transaction pooling, runs through
// session pooling with its own backend and settings verified, and with
// --pooler names the pooler's client behind each pooled backend.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestRunThroughTransactionPoolerRefusesExit2(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "pooler_refuse")
	long, err := incident.LongQuery(ctx, pgtest.DSNFor(db), "report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	for _, tc := range []struct {
		name, mode string
		settings   map[string]string
		want       string
	}{
		{"transaction_console_open", pgtest.TransactionPooling, nil, "PgBouncer 1.18"},
		{"transaction_stock", pgtest.TransactionPooling, map[string]string{"admin_users": "", "stats_users": ""}, "a connection pooler"},
		{"statement", pgtest.StatementPooling, nil, "PgBouncer 1.18"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: tc.mode, DefaultPoolSize: 2, Settings: tc.settings})
			dir := t.TempDir()
			r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--yes",
				"--set", "min_runtime=0s", "--set", "database="+db, "-d", b.DSN(db))
			if r.code != 2 {
				t.Errorf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			wantStart := "pgrunbook: refusing to run through " + tc.want
			if len(lines) != 1 || !strings.HasPrefix(lines[0], wantStart) || !strings.Contains(lines[0], b.Addr()) ||
				!strings.Contains(lines[0], "directly") {
				t.Errorf("want one line starting %q naming %s and asking for a direct connection, got:\n%s", wantStart, b.Addr(), r.stderr)
			}
			if strings.Contains(r.stderr, "SQLSTATE") || strings.Contains(r.stderr, "unsupported startup parameter") {
				t.Errorf("a raw protocol error reached the operator: %s", r.stderr)
			}
			if strings.Contains(r.stdout, "[1]") {
				t.Errorf("a step ran:\n%s", r.stdout)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "transcripts")); len(entries) != 0 {
				t.Errorf("a refused run left %d transcript(s)", len(entries))
			}
		})
	}
	select {
	case <-long.Done():
		t.Errorf("a refused run ended the long query: %v", long.Err())
	default:
	}
}

func TestRunThroughSessionPoolerCancelsRightStatement(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "pooler_session")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.SessionPooling})
	long, err := incident.LongQuery(ctx, b.DSN(db), "report", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(long.Close)
	bystander, err := incident.Idle(ctx, b.DSN(db), "bystander")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bystander.Close)

	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	r := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--yes", "--set", "min_runtime=0s",
		"--set", "database="+db, "-d", b.DSN(db), "--transcript", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "pooler:     through PgBouncer 1.18") || !strings.Contains(r.stdout, "session pooling") {
		t.Errorf("the start-up report does not say it runs through PgBouncer in session pooling:\n%s", r.stdout)
	}
	select {
	case <-long.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the long query still runs after the run")
	}
	if pg.SQLState(long.Err()) != "57014" || !long.Alive(ctx) {
		t.Errorf("long query ended with %v (alive %v), want cancelled (57014) with its session kept", long.Err(), long.Alive(ctx))
	}
	if !bystander.Alive(ctx) {
		t.Error("the bystander session was disturbed")
	}

	res, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sv := res.Events[0].Server
	if sv == nil || sv.Pooler == nil || sv.Pooler.PoolMode != "session" || sv.Pooler.Addr != b.Addr() {
		t.Fatalf("run_started server = %+v, want the session pooler at %s", sv, b.Addr())
	}
	if sv.Settings["statement_timeout"] != "10s" || sv.Settings["default_transaction_read_only"] != "on" ||
		sv.Settings["lock_timeout"] != "2s" || sv.Settings["application_name"] != "pgrunbook" {
		t.Errorf("session settings read back = %v", sv.Settings)
	}
	var selfPIDs []int
	var cancelled []int
	for _, ev := range res.Events {
		for _, row := range ev.Rows {
			if ev.Type == transcript.Snapshot && row.IsSelf {
				selfPIDs = append(selfPIDs, row.PID)
			}
		}
		if ev.Type == transcript.Action {
			if ev.Function != activity.Cancel || ev.Outcome != string(activity.Signalled) {
				t.Errorf("action %s on pid %d: %s", ev.Function, ev.PID, ev.Outcome)
			}
			cancelled = append(cancelled, ev.PID)
		}
	}
	if len(selfPIDs) == 0 {
		t.Fatal("no snapshot row is pgrunbook's own")
	}
	for _, p := range selfPIDs {
		if p != sv.BackendPID {
			t.Errorf("own row pid %d, but the transcript's backend_pid is %d", p, sv.BackendPID)
		}
	}
	if sv.BackendPID == sv.Pooler.ProtocolPID {
		t.Errorf("backend_pid %d is the pooler's stand-in pid", sv.BackendPID)
	}
	if len(cancelled) != 1 || cancelled[0] != long.PID {
		t.Errorf("cancelled pids %v, want only the long query's %d", cancelled, long.PID)
	}
}

// Two psql clients through PgBouncer in transaction pooling, one inside a
// transaction and one running a long statement: with --pooler the table
// and the transcript name, for the backend serving each, that psql's own
// address and port (its socket's local port, read from /proc, not from
// the pooler).
func TestPoolerConsoleNamesTheClientOfEachBackend(t *testing.T) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(t, "pooler_map")
	b := pgtest.StartPgBouncer(t, pgtest.PgBouncerOptions{PoolMode: pgtest.TransactionPooling, DefaultPoolSize: 2})
	inTx := startPsql(t, b.DSN(db), "BEGIN;\nSELECT 'psql in a transaction';\n")
	running := startPsql(t, b.DSN(db), "SELECT pg_sleep(120) /* psql running */;\n")
	ctl := pgtest.ConnectTo(t, db)
	txPID := waitForBackend(t, ctx, ctl, "idle in transaction", "psql in a transaction")
	runPID := waitForBackend(t, ctx, ctl, "active", "psql running")
	txPort, runPort := psqlLocalPort(t, inTx, b.Port), psqlLocalPort(t, running, b.Port)

	dir := t.TempDir()
	path := filepath.Join(dir, "run.jsonl")
	protect := fmt.Sprintf("pooler_client_port == %d && via_pooler", runPort)
	r := pgrunbook(t, dir, nil, "run", "terminate-idle-in-transaction", "--dry-run", "--set", "min_idle=0s",
		"--set", "database="+db, "-d", pgtest.DSNFor(db), "--pooler", b.AdminDSN(), "--protect", protect, "--transcript", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	txClient := fmt.Sprintf("127.0.0.1:%d", txPort)
	for _, want := range []string{
		"--pooler:   PgBouncer 1.18",
		"via pooler, transaction pooling: serves client " + txClient + " (psql) now",
		"the client linked to it now (transaction pooling), " + txClient + " (psql), is disconnected",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	res, err := transcript.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Events[0].Server.PoolerConsole; c == nil || c.Addr != b.Addr() {
		t.Errorf("run_started pooler_console = %+v", c)
	}
	var snap *transcript.Event
	for i := range res.Events {
		if res.Events[i].Type == transcript.Snapshot {
			snap = &res.Events[i]
			break
		}
	}
	if snap == nil {
		t.Fatal("no snapshot in the transcript")
	}
	want := map[int]int{txPID: txPort, runPID: runPort}
	for _, row := range snap.Rows {
		port, ok := want[row.PID]
		if !ok {
			continue
		}
		delete(want, row.PID)
		if !row.ViaPooler || row.PoolMode != "transaction" || row.PoolerClientAddr != "127.0.0.1" ||
			row.PoolerClientPort != port || row.PoolerClientApp != "psql" {
			t.Errorf("backend %d recorded as via_pooler %v, pool_mode %q, client %s:%d (%s); want psql at 127.0.0.1:%d",
				row.PID, row.ViaPooler, row.PoolMode, row.PoolerClientAddr, row.PoolerClientPort, row.PoolerClientApp, port)
		}
	}
	if len(want) > 0 {
		t.Errorf("backends %v missing from the snapshot", want)
	}
	// The expression environment sees the fields: the running psql's
	// backend is protected by its pooler client's port.
	r2 := pgrunbook(t, dir, nil, "run", "cancel-long-queries", "--dry-run", "--set", "min_runtime=0s",
		"--set", "database="+db, "-d", pgtest.DSNFor(db), "--pooler", b.AdminDSN(), "--protect", protect)
	if r2.code != 0 || !strings.Contains(r2.stdout, "protected by: "+protect) {
		t.Errorf("--protect on pooler_client_port did not protect the running psql's backend: exit %d\n%s%s", r2.code, r2.stdout, r2.stderr)
	}
}

// startPsql runs psql through dsn, feeds it input and keeps its standard
// input open, so a transaction it began stays open. It is ended when the
// test ends.
func startPsql(t *testing.T, dsn, input string) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn}
	if c := pgtest.Cluster(); c != nil {
		cmd = c.Command(context.Background(), "psql", args...)
	} else {
		cmd = exec.Command("psql", args...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("psql: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if _, err := io.WriteString(stdin, input); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitForBackend polls pg_stat_activity until a backend in state runs a
// query containing marker, and returns its pid.
func waitForBackend(t *testing.T, ctx context.Context, ctl *pgx.Conn, state, marker string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pid int
		err := ctl.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE state = $1 AND strpos(query, $2) > 0 AND pid <> pg_backend_pid()",
			state, marker).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend %s running %q: %v", state, marker, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// psqlLocalPort finds the local port of the process's TCP connection to
// 127.0.0.1:remotePort from /proc: its socket inodes, looked up in
// /proc/net/tcp.
func psqlLocalPort(t *testing.T, cmd *exec.Cmd, remotePort int) int {
	t.Helper()
	pid := cmd.Process.Pid
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || !inodes[fields[9]] {
			continue
		}
		_, remPort, _ := strings.Cut(fields[2], ":")
		_, locPort, _ := strings.Cut(fields[1], ":")
		rp, err1 := strconv.ParseInt(remPort, 16, 32)
		lp, err2 := strconv.ParseInt(locPort, 16, 32)
		if err1 == nil && err2 == nil && int(rp) == remotePort {
			return int(lp)
		}
	}
	t.Fatalf("psql (pid %d) has no TCP connection to port %d", pid, remotePort)
	return 0
}
