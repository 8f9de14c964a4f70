package hoststat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// sampleInterval is long enough for a CPU share to about one percent.
const sampleInterval = time.Second

// testCtx bounds one test's database work.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// backendOf returns the pid and backend_start of conn's backend.
func backendOf(t *testing.T, conn *pgx.Conn) Backend {
	t.Helper()
	var b Backend
	err := conn.QueryRow(context.Background(),
		"SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&b.PID, &b.BackendStart)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// busy runs work on its own connection to db in the background until the
// test ends, and returns that connection's backend. work gets a context
// that is cancelled at cleanup, which also waits for work to return.
func busy(t *testing.T, db string, work func(ctx context.Context, conn *pgx.Conn) error) Backend {
	t.Helper()
	conn := pgtest.ConnectTo(t, db)
	b := backendOf(t, conn)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := work(ctx, conn); err != nil && ctx.Err() == nil {
			t.Errorf("background work of backend %d: %v", b.PID, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return b
}

// waitActivity polls pg_stat_activity until pid's row satisfies cond,
// failing the test after a bound.
func waitActivity(t *testing.T, ctl *pgx.Conn, pid int, what string, cond func(state, waitEvent string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state, waitEvent string
		err := ctl.QueryRow(context.Background(),
			"SELECT coalesce(state, ''), coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1", pid).Scan(&state, &waitEvent)
		if err == nil && cond(state, waitEvent) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d never got %s (state %q, wait_event %q, err %v)", pid, what, state, waitEvent, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sampleAll samples backends and fails unless every one is in the result.
func sampleAll(t *testing.T, ctx context.Context, backends ...Backend) map[int]Stats {
	t.Helper()
	got, err := Sample(ctx, backends, sampleInterval)
	if errors.Is(err, ErrNotLocal) {
		t.Fatalf("these tests need the PostgreSQL server on this host (is %s a remote server?): %v", pgtest.EnvDSN, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		if _, ok := got[b.PID]; !ok {
			t.Fatalf("backend %d missing from %v", b.PID, got)
		}
	}
	return got
}

// requireAll fails unless every fact of st was read; the tests run as
// root, which may read every backend's files.
func requireAll(t *testing.T, name string, st Stats) {
	t.Helper()
	if len(st.Unavailable) > 0 {
		t.Fatalf("%s: facts unavailable: %v", name, st.Unavailable)
	}
}

// cpuTicksOf reads pid's utime + stime, in clock ticks, from its stat file.
func cpuTicksOf(t *testing.T, pid int) uint64 {
	t.Helper()
	raw, err := newProcReader().read(pid, "stat", procFileLimit)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(raw)
	if err != nil {
		t.Fatal(err)
	}
	return st.cpuTicks
}

// busyTicks is how much CPU the burner must have had over one sample for
// the comparison to mean something: a twentieth of a CPU at 100 Hz.
const busyTicks = 5

// TestSampleCPUShare checks Sample's CPU share against the CPU the test
// itself reads from the same counters just before and just after the
// sample. The share a busy loop gets depends on what else the machine
// runs (the whole suite, on two CPUs), so the test compares Sample with
// that truth rather than with a fixed figure.
func TestSampleCPUShare(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_cpu")
	ctl := pgtest.ConnectTo(t, db)
	idle := backendOf(t, pgtest.ConnectTo(t, db))
	burner := busy(t, db, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DO $$BEGIN LOOP END LOOP; END$$")
		return err
	})
	waitActivity(t, ctl, burner.PID, "its loop running", func(state, _ string) bool { return state == "active" })
	tick := float64(clockTick())

	// A loaded machine may starve the burner for a whole second; sample
	// again, a bounded number of times, until it has run.
	const attempts = 10
	for attempt := 1; ; attempt++ {
		start := time.Now()
		idle0, burner0 := cpuTicksOf(t, idle.PID), cpuTicksOf(t, burner.PID)
		got := sampleAll(t, ctx, idle, burner)
		idle1, burner1 := cpuTicksOf(t, idle.PID), cpuTicksOf(t, burner.PID)
		outer := time.Since(start).Seconds()
		requireAll(t, "idle", got[idle.PID])
		requireAll(t, "burner", got[burner.PID])
		i, b := got[idle.PID].CPUPercent, got[burner.PID].CPUPercent
		t.Logf("attempt %d: Sample says idle %.1f%%, burner %.1f%%; the counters moved %d and %d ticks over %.3fs",
			attempt, i, b, idle1-idle0, burner1-burner0, outer)
		if burner1-burner0 < busyTicks {
			if attempt == attempts {
				t.Fatalf("the burner ran fewer than %d ticks in each of %d one-second samples", busyTicks, attempts)
			}
			continue
		}
		checkShare(t, "idle", i, idle1-idle0, outer, tick)
		checkShare(t, "burner", b, burner1-burner0, outer, tick)
		if b <= i {
			t.Errorf("burner's CPU share %.1f%% is not above the idle backend's %.1f%%", b, i)
		}
		// A backend is one thread: it cannot use more than one CPU (a
		// tick or two of rounding aside). More would mean the tick rate
		// is wrong.
		if b > 110 {
			t.Errorf("burner's CPU share %.1f%% is more than one CPU", b)
		}
		if i < 0 {
			t.Errorf("idle CPU share %.1f%% is negative", i)
		}
		return
	}
}

// checkShare fails unless a sampled CPU share agrees with the ticks the
// test saw over an outer window of outer seconds that contains Sample's
// own window of between sampleInterval and outer seconds. Sample's ticks
// can be no more than the outer window's, and no fewer than them less what
// one thread can run in the time outside its window; each reading of a
// counter may round by a tick.
func checkShare(t *testing.T, name string, share float64, ticks uint64, outer, tick float64) {
	t.Helper()
	const rounding = 2
	least := share / 100 * tick * sampleInterval.Seconds()
	most := share / 100 * tick * outer
	outside := (outer - sampleInterval.Seconds()) * tick
	if least > float64(ticks)+rounding {
		t.Errorf("%s: Sample's %.1f%% is at least %.1f ticks, more than the %d the counters moved around it", name, share, least, ticks)
	}
	if most < float64(ticks)-outside-rounding {
		t.Errorf("%s: Sample's %.1f%% is at most %.1f ticks, fewer than the %d the counters moved around it less %.1f outside its window", name, share, most, ticks, outside)
	}
}

// heldBytes is what the memory hog keeps allocated while it sleeps.
const heldBytes = 100 << 20

func TestSampleMemory(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_mem")
	ctl := pgtest.ConnectTo(t, db)
	idle := backendOf(t, pgtest.ConnectTo(t, db))
	// The block's variable holds a 100 MB string, every byte written, in
	// the backend's private memory while pg_sleep waits.
	hog := busy(t, db, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, fmt.Sprintf("DO $$DECLARE held text := repeat('x', %d); BEGIN PERFORM pg_sleep(600); END$$", heldBytes))
		return err
	})
	waitActivity(t, ctl, hog.PID, "to pg_sleep with its string allocated", func(state, ev string) bool { return state == "active" && ev == "PgSleep" })

	got := sampleAll(t, ctx, idle, hog)
	requireAll(t, "idle", got[idle.PID])
	requireAll(t, "hog", got[hog.PID])
	i, h := got[idle.PID].MemoryBytes, got[hog.PID].MemoryBytes
	t.Logf("memory: idle %d kB, hog %d kB", i>>10, h>>10)
	if i <= 0 {
		t.Errorf("idle backend's memory %d, want > 0", i)
	}
	if h < i+heldBytes/2 {
		t.Errorf("hog's memory %d kB is not at least half of its %d kB string above the idle backend's %d kB", h>>10, heldBytes>>10, i>>10)
	}
}

func TestSampleWriteRate(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_io")
	idle := backendOf(t, pgtest.ConnectTo(t, db))
	// Each round fills a temp table with ~15 MB, more than temp_buffers
	// (8 MB), so the backend itself writes evicted pages to its files;
	// TRUNCATE frees the space, so the rounds never fill the disk.
	var rounds atomic.Int64
	writer := busy(t, db, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, "CREATE TEMP TABLE w (x text)"); err != nil {
			return err
		}
		for ctx.Err() == nil {
			if _, err := conn.Exec(ctx, "INSERT INTO w SELECT repeat('x', 500) FROM generate_series(1, 30000)"); err != nil {
				return err
			}
			if _, err := conn.Exec(ctx, "TRUNCATE w"); err != nil {
				return err
			}
			rounds.Add(1)
		}
		return nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for rounds.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the writer finished no round")
		}
		time.Sleep(20 * time.Millisecond)
	}

	got := sampleAll(t, ctx, idle, writer)
	requireAll(t, "idle", got[idle.PID])
	requireAll(t, "writer", got[writer.PID])
	i, w := got[idle.PID].WriteBytesPerSec, got[writer.PID].WriteBytesPerSec
	t.Logf("writes: idle %.0f B/s, writer %.0f B/s (%d rounds so far)", i, w, rounds.Load())
	if w <= i {
		t.Errorf("writer's write rate %.0f B/s is not above the idle backend's %.0f B/s", w, i)
	}
}

// processAsBackend returns local process pid as a Backend with its true
// start time, so only the PostgreSQL checks can reject it.
func processAsBackend(t *testing.T, pid int) Backend {
	t.Helper()
	s := &sampler{r: newProcReader(), tick: clockTick()}
	boot, err := s.r.bootTime()
	if err != nil {
		t.Fatal(err)
	}
	s.boot = boot
	raw, err := s.r.read(pid, "stat", procFileLimit)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(raw)
	if err != nil {
		t.Fatal(err)
	}
	return Backend{PID: pid, BackendStart: s.started(st)}
}

// impostor starts a local process titled like a PostgreSQL backend but
// not forked from a postmaster, and returns it as a Backend.
func impostor(t *testing.T) Backend {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.Args[0] = backendTitlePrefix + "alice shop [local] idle"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return processAsBackend(t, cmd.Process.Pid)
}

// absentPIDs returns n pids with no process on this host, from the top
// of the pid range, where processes are rarely found.
func absentPIDs(tb testing.TB, n int) []int {
	tb.Helper()
	raw, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		tb.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	var pids []int
	for pid := pidMax - 1; pid > 1 && len(pids) < n; pid-- {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, os.ErrNotExist) {
			pids = append(pids, pid)
		}
	}
	if len(pids) < n {
		tb.Fatalf("only %d pids free", len(pids))
	}
	return pids
}

func TestSampleLeavesOutOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_ident")
	good := backendOf(t, pgtest.ConnectTo(t, db))
	shifted := backendOf(t, pgtest.ConnectTo(t, db))
	shifted.BackendStart = shifted.BackendStart.Add(-time.Hour)
	self := processAsBackend(t, os.Getpid())
	fake := impostor(t)

	got, err := Sample(ctx, []Backend{shifted, self, fake, good, {PID: absentPIDs(t, 1)[0], BackendStart: good.BackendStart}}, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[good.PID]; !ok || len(got) != 1 {
		t.Errorf("Sample = %v, want only backend %d (left out: %d started an hour off, %d this test process, %d titled like a backend, an absent pid)",
			got, good.PID, shifted.PID, self.PID, fake.PID)
	}
}

func TestSampleStartTolerance(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_tol")
	b := backendOf(t, pgtest.ConnectTo(t, db))
	within := Backend{PID: b.PID, BackendStart: b.BackendStart.Add(StartTolerance / 2)}
	got, err := Sample(ctx, []Backend{within}, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("backend_start %v off: %v", StartTolerance/2, err)
	}
	if _, ok := got[b.PID]; !ok {
		t.Errorf("backend %d with backend_start %v off missing from %v", b.PID, StartTolerance/2, got)
	}
	beyond := Backend{PID: b.PID, BackendStart: b.BackendStart.Add(-2 * StartTolerance)}
	if _, err := Sample(ctx, []Backend{beyond}, 50*time.Millisecond); !errors.Is(err, ErrNotLocal) {
		t.Errorf("backend_start %v off: Sample = %v, want ErrNotLocal", 2*StartTolerance, err)
	}
}

func TestSampleNotLocal(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	db := pgtest.CreateDatabase(t, "hoststat_remote")
	shifted := backendOf(t, pgtest.ConnectTo(t, db))
	shifted.BackendStart = shifted.BackendStart.Add(time.Hour)
	backends := []Backend{processAsBackend(t, os.Getpid()), shifted, {PID: absentPIDs(t, 1)[0], BackendStart: time.Now()}}

	got, err := Sample(ctx, backends, 5*time.Second)
	if !errors.Is(err, ErrNotLocal) {
		t.Fatalf("Sample = %v, %v; want ErrNotLocal", got, err)
	}
	msg := err.Error()
	for _, part := range []string{"of 3 backends", "1 has no process here", "1 is a process here that is not a PostgreSQL backend", "1 is a PostgreSQL process here that started at another time", "remote"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not say %q", msg, part)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q is more than one line", msg)
	}
}

func TestSampleArguments(t *testing.T) {
	b := Backend{PID: os.Getpid(), BackendStart: time.Now()}
	if _, err := Sample(context.Background(), []Backend{b}, 0); err == nil {
		t.Error("Sample with a zero interval succeeded")
	}
	got, err := Sample(context.Background(), nil, time.Hour)
	if err != nil || len(got) != 0 {
		t.Errorf("Sample of no backends = %v, %v; want an empty map at once", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Sample(ctx, []Backend{b}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sample on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestSampleStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "hoststat_ctx")
	b := backendOf(t, pgtest.ConnectTo(t, db))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Sample(ctx, []Backend{b}, time.Hour)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Sample = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Sample kept waiting after its context ended")
	}
}
