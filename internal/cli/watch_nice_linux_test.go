package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// niceOfThreads reads the nice value of every thread of process pid.
func niceOfThreads(t *testing.T, pid int) map[int]int {
	nice, _ := schedOfThreads(t, pid)
	return nice
}

// schedOfThreads reads the nice value (field 19 of /proc/PID/task/TID/stat)
// and the scheduling policy (field 41) of every thread of process pid.
func schedOfThreads(t *testing.T, pid int) (nice, policy map[int]int) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	nice, policy = map[int]int{}, map[int]int{}
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// The command name (field 2) is in parentheses and may hold spaces.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		n, err := strconv.Atoi(fields[16]) // field 19 overall
		if err != nil {
			t.Fatal(err)
		}
		p, err := strconv.Atoi(fields[38]) // field 41 overall
		if err != nil {
			t.Fatal(err)
		}
		tid, _ := strconv.Atoi(task.Name())
		nice[tid], policy[tid] = n, p
	}
	return nice, policy
}

// schedIdle is Linux's SCHED_IDLE policy number.
const schedIdle = 5

// A dry-run watch only observes: every thread of it runs at nice 19 in
// the idle scheduling class, so it takes no CPU from the workload it
// watches; --nice 0 keeps the priority it started with.
func TestDryRunWatchRunsAtTheLowestPriority(t *testing.T) {
	t.Parallel()
	db := pgtest.CreateDatabase(t, "watchnice")
	own := niceOfThreads(t, os.Getpid())[os.Getpid()] // what a child starts with
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 19},
		{[]string{"--nice", "0"}, own},
	} {
		dir := t.TempDir()
		tdir := filepath.Join(dir, "rounds")
		args := append([]string{"cancel-long-queries", "-d", pgtest.DSNFor(db), "--every", "200ms",
			"--set", "database=" + db, "--transcript-dir", tdir, "--keep-quiet", "-1"}, c.args...)
		cmd, out := startWatch(t, dir, args...)
		awaitFile(t, filepath.Join(tdir, "round-000002.jsonl"))
		threads, policies := schedOfThreads(t, cmd.Process.Pid)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := exitOf(t, cmd); code != 130 {
			t.Fatalf("%v: exit %d\n%s", c.args, code, out)
		}
		if len(threads) == 0 {
			t.Fatalf("%v: no thread read", c.args)
		}
		for tid, nice := range threads {
			if nice != c.want {
				t.Errorf("%v: thread %d runs at nice %d, want %d (all: %v)\n%s", c.args, tid, nice, c.want, threads, out)
				break
			}
		}
		for tid, p := range policies {
			if (p == schedIdle) != (c.want == 19) {
				t.Errorf("%v: thread %d has scheduling policy %d, want SCHED_IDLE (%d) only at nice 19", c.args, tid, p, schedIdle)
				break
			}
		}
		if c.args == nil && !strings.Contains(out.String(), fmt.Sprintf("priority: nice %d", c.want)) {
			t.Errorf("%v: the start does not say the priority:\n%s", c.args, out)
		}
	}
}
