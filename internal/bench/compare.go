package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/sandbox"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// maxPsqlPolls bounds the psql poll loop; psqlPollTimeout bounds it in time.
const (
	maxPsqlPolls    = 500
	psqlPollTimeout = 20 * time.Second
)

// comparison runs the two ways of cancelling the staged long statements.
type comparison struct {
	cluster *sandbox.Cluster
	dsn     string
	tools   tools
	dir     string // transcripts
	// shmDir, when not "", is a directory on tmpfs, where fsync costs
	// next to nothing: runs with their transcript there show what the
	// transcript's syncs cost.
	shmDir string
	ctl    *pgx.Conn
	fleet  *fleet
	// minRuntime is given to the playbook; every staged statement is at
	// least settle older than it when a trial starts.
	minRuntime, settle time.Duration
	runs               int // numbers transcripts
}

// psqlTrial is one run of the hand-written psql pair.
type psqlTrial struct {
	Wall time.Duration
	// CancelWall is the first psql process, start to exit; Statement is
	// the cancelling statement alone, as psql's \timing reports it.
	CancelWall, Statement time.Duration
	Cancelled             int // rows for which pg_cancel_backend returned true
	Polls                 int
}

// toolTrial is one run of pgrunbook or of the floor command.
type toolTrial struct {
	child
	Transcript string
	Signalled  int
	Polls      int
	VerifyTime time.Duration
}

// prepare restages the long statements and lets them age past minRuntime.
func (c *comparison) prepare(ctx context.Context) error {
	if err := c.fleet.restage(ctx, c.ctl); err != nil {
		return err
	}
	return pause(ctx, c.minRuntime+c.settle)
}

// check makes sure a trial cancelled every long statement, kept every
// session and left no statement active.
func (c *comparison) check(ctx context.Context, what string) error {
	n, err := c.fleet.cancelled(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != len(c.fleet.long) {
		return fmt.Errorf("%s: %d of %d long statements ended with query_canceled on a live session", what, n, len(c.fleet.long))
	}
	idle, err := countSessions(ctx, c.ctl, idleApp, "")
	if err != nil {
		return err
	}
	if idle != len(c.fleet.idle) {
		return fmt.Errorf("%s: %d idle sessions left, want %d", what, idle, len(c.fleet.idle))
	}
	return nil
}

// psqlTiming finds the statement time psql's \timing prints.
var psqlTiming = regexp.MustCompile(`Time: ([0-9.]+) ms`)

// psqlPair cancels with one psql statement, then runs psql until no
// staged statement is active: what an operator types by hand.
func (c *comparison) psqlPair(ctx context.Context) (psqlTrial, error) {
	cancelSQL := fmt.Sprintf("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '%s' AND state = 'active'", longApp)
	pollSQL := fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' AND state = 'active'", longApp)
	psql := func(sql string, timing bool) (child, error) {
		args := []string{"-X", "-q", "-A", "-t", "-d", c.dsn, "-c", sql}
		if timing {
			args = []string{"-X", "-q", "-A", "-t", "-d", c.dsn, "-c", `\timing on`, "-c", sql}
		}
		ch, err := runChild(c.cluster.Command(ctx, "psql", args...))
		if err == nil && ch.ExitCode != 0 {
			err = fmt.Errorf("psql exited %d: %s", ch.ExitCode, ch.Output)
		}
		return ch, err
	}
	var tr psqlTrial
	start := time.Now()
	ch, err := psql(cancelSQL, true)
	if err != nil {
		return tr, err
	}
	tr.CancelWall = ch.Wall
	tr.Cancelled = strings.Count(ch.Output, "t\n")
	if tr.Cancelled != len(c.fleet.long) {
		return tr, fmt.Errorf("psql cancelled %d of %d statements:\n%s", tr.Cancelled, len(c.fleet.long), lastLines(ch.Output, 5))
	}
	if m := psqlTiming.FindStringSubmatch(ch.Output); m != nil {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			tr.Statement = time.Duration(v * float64(time.Millisecond))
		}
	}
	for {
		ch, err := psql(pollSQL, false)
		if err != nil {
			return tr, err
		}
		tr.Polls++
		if strings.TrimSpace(ch.Output) == "0" {
			break
		}
		if tr.Polls >= maxPsqlPolls || time.Since(start) > psqlPollTimeout {
			return tr, fmt.Errorf("psql poll: %s statements still active after %d polls", strings.TrimSpace(ch.Output), tr.Polls)
		}
	}
	tr.Wall = time.Since(start)
	return tr, nil
}

// tool runs `pgrunbook run cancel-long-queries --yes` on the staged
// statements with its transcript in dir and reads the transcript back.
func (c *comparison) tool(ctx context.Context, dir string) (toolTrial, error) {
	path := c.nextTranscript(dir)
	return c.measure(ctx, path, c.tools.Pgrunbook, "run", "cancel-long-queries", "--yes",
		"--max-targets", fmt.Sprint(len(c.fleet.long)), "--set", "min_runtime="+c.minRuntime.String(),
		"-d", c.dsn, "--transcript", path)
}

// floor runs the floor command (internal/bench/floor) on the staged
// statements: the same cancels with the same rules and transcript
// writer, without the engine; belowRules drops the snapshot's rows and
// the verify as well.
func (c *comparison) floor(ctx context.Context, dir string, belowRules bool) (toolTrial, error) {
	path := c.nextTranscript(dir)
	args := []string{"-d", c.dsn, "-transcript", path, "-app", longApp,
		"-min-runtime", c.minRuntime.String(), "-max-targets", fmt.Sprint(len(c.fleet.long))}
	if belowRules {
		args = append(args, "-below-rules")
	}
	return c.measure(ctx, path, c.tools.Floor, args...)
}

// nextTranscript is the path of the next trial's transcript in dir.
func (c *comparison) nextTranscript(dir string) string {
	c.runs++
	return filepath.Join(dir, fmt.Sprintf("run-%03d.jsonl", c.runs))
}

// measure runs program with args, which make it write its transcript
// at path, and reads the transcript back: how many sessions it signalled
// (every staged statement, or the trial fails) and how its verify went.
func (c *comparison) measure(ctx context.Context, path, program string, args ...string) (toolTrial, error) {
	name := filepath.Base(program)
	ch, err := c.tools.measured(ctx, program, args...)
	tr := toolTrial{child: ch, Transcript: path}
	if err != nil {
		return tr, err
	}
	if ch.ExitCode != 0 {
		return tr, fmt.Errorf("%s exited %d:\n%s", name, ch.ExitCode, lastLines(ch.Output, 30))
	}
	events, err := readTranscript(path)
	if err != nil {
		return tr, err
	}
	for _, ev := range events {
		switch {
		case ev.Type == transcript.Action && ev.Outcome == "signalled":
			tr.Signalled++
		case ev.Type == transcript.Verified && ev.Step == "stopped":
			tr.Polls, tr.VerifyTime = ev.Polls, ev.Elapsed
		}
	}
	if n := len(c.fleet.long); tr.Signalled != n {
		return tr, fmt.Errorf("%s signalled %d of %d statements (transcript %s)", name, tr.Signalled, n, path)
	}
	return tr, nil
}

func readTranscript(path string) ([]transcript.Event, error) {
	rr, err := transcript.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transcript %s: %w", path, err)
	}
	return rr.Events, nil
}

// segment is a stretch of a pgrunbook run between two transcript events.
type segment struct {
	Label string
	Took  time.Duration
}

// breakdown splits a run's wall time at its transcript events: from the
// process start to the first event, between groups of consecutive events
// of one type and step (200 action events are one group), within each
// group, and from the last event to the process exit. An event's time is
// taken just before it is encoded, written and synced, so a segment ends
// with the work of its step and starts after the previous event's write.
func breakdown(tr toolTrial) ([]segment, error) {
	events, err := readTranscript(tr.Transcript)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("transcript %s is empty", tr.Transcript)
	}
	name := func(ev transcript.Event) string {
		if ev.Step != "" {
			return fmt.Sprintf("%s (%s)", ev.Type, ev.Step)
		}
		return ev.Type
	}
	segs := []segment{{"process start, connect, read privileges → " + name(events[0]), events[0].Time.Sub(tr.Start)}}
	for i := 0; i < len(events); {
		j := i
		for j+1 < len(events) && events[j+1].Type == events[i].Type && events[j+1].Step == events[i].Step {
			j++
		}
		if j > i {
			segs = append(segs, segment{fmt.Sprintf("%d × %s, first to last", j-i+1, name(events[i])), events[j].Time.Sub(events[i].Time)})
		}
		if j+1 < len(events) {
			segs = append(segs, segment{name(events[j]) + " → " + name(events[j+1]), events[j+1].Time.Sub(events[j].Time)})
		}
		i = j + 1
	}
	last := events[len(events)-1]
	segs = append(segs, segment{"last event → process exit", tr.Start.Add(tr.Wall).Sub(last.Time)})
	return segs, nil
}

// lastLines returns at most the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tmpfsDir creates a directory on /dev/shm if that is a tmpfs, else
// returns "".
func tmpfsDir() string {
	const tmpfsMagic = 0x01021994
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != tmpfsMagic {
		return ""
	}
	dir, err := os.MkdirTemp("/dev/shm", "pgrunbook-bench-")
	if err != nil {
		return ""
	}
	return dir
}
