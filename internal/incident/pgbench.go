package incident

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PgbenchApp is the application_name pgbench connects with unless the
// PGAPPNAME environment variable or the connection string says otherwise.
const PgbenchApp = "pgbench"

// PgbenchInitArgs returns pgbench arguments that (re)create the standard
// pgbench tables at the given scale with quiet progress logging:
// "-i -s scale -q [dbname]". dbname may also be a connection string.
func PgbenchInitArgs(scale int, dbname string) []string {
	if scale < 1 {
		scale = 1
	}
	args := []string{"-i", "-s", strconv.Itoa(scale), "-q"}
	if dbname != "" {
		args = append(args, dbname)
	}
	return args
}

// PgbenchRun describes a pgbench benchmark run; Args turns it into
// command-line arguments.
type PgbenchRun struct {
	// Clients is the number of concurrent client sessions (-c); 0 means 1.
	Clients int
	// Threads is the number of worker threads (-j); 0 means 1. It is
	// capped at Clients, as pgbench requires.
	Threads int
	// Duration is the run time (-T), rounded up to whole seconds. 0 means
	// pgbench's default of 10 transactions per client, or whatever
	// Transactions says.
	Duration time.Duration
	// Transactions is the number of transactions per client (-t); used
	// only when Duration is 0.
	Transactions int
	// Rate throttles the run to this many transactions per second across
	// all clients (-R); 0 means as fast as possible. With a rate the
	// clients' backends are idle most of the time.
	Rate float64
	// Database is the database to connect to, or a connection string; ""
	// leaves it to PGDATABASE.
	Database string
	// Extra holds further pgbench arguments, placed before Database.
	Extra []string
}

// Args returns the pgbench command-line arguments for r. Progress
// reporting is off (pgbench's default; there is no "--progress off").
func (r PgbenchRun) Args() []string {
	clients := max(r.Clients, 1)
	threads := min(max(r.Threads, 1), clients)
	args := []string{"-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads)}
	switch {
	case r.Duration > 0:
		secs := int(math.Ceil(r.Duration.Seconds()))
		args = append(args, "-T", strconv.Itoa(secs))
	case r.Transactions > 0:
		args = append(args, "-t", strconv.Itoa(r.Transactions))
	}
	if r.Rate > 0 {
		args = append(args, "-R", strconv.FormatFloat(r.Rate, 'f', -1, 64))
	}
	args = append(args, r.Extra...)
	if r.Database != "" {
		args = append(args, r.Database)
	}
	return args
}

// InitPgbench runs cmd, a pgbench command with initialisation arguments
// (see PgbenchInitArgs), to completion. The error includes pgbench's
// output. ctx kills pgbench when done.
func InitPgbench(ctx context.Context, cmd *exec.Cmd) error {
	p, err := StartPgbench(ctx, cmd)
	if err != nil {
		return err
	}
	<-p.done
	if p.waitErr != nil {
		return fmt.Errorf("incident: pgbench initialisation failed: %w\n%s", p.waitErr, tail(p.stderr.String()+p.stdout.String(), 20))
	}
	return nil
}

// Pgbench is a pgbench process started by StartPgbench.
type Pgbench struct {
	cmd     *exec.Cmd
	stdout  syncBuffer
	stderr  syncBuffer
	done    chan struct{} // closed after cmd.Wait returned
	waitErr error         // valid once done is closed
}

// StartPgbench starts cmd, a pgbench command built by the caller (for
// example sandbox.Cluster.Command(ctx, "pgbench", run.Args()...), or
// exec.Command for an external server with the connection given through
// the environment or the database argument), in the background. Its output
// is captured for Wait; writers already set on cmd.Stdout or cmd.Stderr
// receive a copy. When ctx is done pgbench is killed.
func StartPgbench(ctx context.Context, cmd *exec.Cmd) (*Pgbench, error) {
	p := &Pgbench{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = teeTo(&p.stdout, cmd.Stdout)
	cmd.Stderr = teeTo(&p.stderr, cmd.Stderr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("incident: start pgbench: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		case <-p.done:
		}
	}()
	return p, nil
}

func teeTo(buf io.Writer, w io.Writer) io.Writer {
	if w == nil {
		return buf
	}
	return io.MultiWriter(buf, w)
}

// PID returns the process id of the pgbench process (not of its database
// backends; see BackendPIDs with PgbenchApp for those).
func (p *Pgbench) PID() int { return p.cmd.Process.Pid }

// Output returns what pgbench has written to stdout and stderr so far.
func (p *Pgbench) Output() (stdout, stderr string) {
	return p.stdout.String(), p.stderr.String()
}

// Done returns a channel closed when pgbench has exited.
func (p *Pgbench) Done() <-chan struct{} { return p.done }

// Wait waits for pgbench to exit and parses its report. The error is nil
// whenever a report was printed, even if pgbench exited non-zero because
// clients aborted (see PgbenchSummary.Aborted and ExitCode); otherwise it
// describes the failure and quotes pgbench's stderr. Wait may be called
// more than once.
func (p *Pgbench) Wait() (PgbenchSummary, error) {
	<-p.done
	sum, err := ParsePgbench(p.stdout.String(), p.stderr.String())
	sum.ExitCode = p.cmd.ProcessState.ExitCode()
	if err != nil {
		if p.waitErr != nil {
			return sum, fmt.Errorf("incident: pgbench: %w\n%s", p.waitErr, tail(p.stderr.String(), 20))
		}
		return sum, err
	}
	return sum, nil
}

// Stop kills pgbench if it is still running and waits for it to exit.
func (p *Pgbench) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// PgbenchSummary is the parsed report of a pgbench run.
type PgbenchSummary struct {
	// Clients is "number of clients".
	Clients int
	// Threads is "number of threads".
	Threads int
	// Processed is "number of transactions actually processed" (the part
	// before the slash for -t runs).
	Processed int64
	// Failed is "number of failed transactions" (pgbench 15 and later;
	// these are serialization and deadlock failures, not aborted
	// clients).
	Failed int64
	// Aborted is the number of distinct clients reported as aborted
	// ("client N ... aborted"), e.g. because their backend was
	// terminated. pgbench exits with status 2 when this is non-zero.
	Aborted int
	// Incomplete is true when pgbench said the run was aborted and its
	// results are incomplete.
	Incomplete bool
	// TPS is the reported throughput, excluding connection time.
	TPS float64
	// ExitCode is pgbench's exit status (set by Pgbench.Wait; -1 if it was
	// killed by a signal).
	ExitCode int
}

var (
	reAbortedClient = regexp.MustCompile(`\bclient (\d+) (?:script \d+ )?aborted\b`)
	reLeadingNumber = regexp.MustCompile(`^-?\d+(?:\.\d+)?`)
)

// ErrNoPgbenchReport is returned by ParsePgbench when the output holds no
// transaction count, i.e. pgbench printed no report.
var ErrNoPgbenchReport = errors.New("incident: no pgbench report in output")

// ParsePgbench parses pgbench's standard output and standard error into a
// summary. ExitCode is left 0.
func ParsePgbench(stdout, stderr string) (PgbenchSummary, error) {
	var s PgbenchSummary
	var sawProcessed bool
	var tpsAny, tpsExcl float64
	var sawTPSAny, sawTPSExcl bool

	sc := bufio.NewScanner(strings.NewReader(stdout + "\n" + stderr))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, value, hasColon := strings.Cut(line, ":")
		if hasColon {
			value = strings.TrimSpace(value)
			switch key {
			case "number of clients":
				s.Clients, _ = strconv.Atoi(leadingNumber(value))
			case "number of threads":
				s.Threads, _ = strconv.Atoi(leadingNumber(value))
			case "number of transactions actually processed":
				if n, err := strconv.ParseInt(leadingNumber(value), 10, 64); err == nil {
					s.Processed, sawProcessed = n, true
				}
			case "number of failed transactions":
				s.Failed, _ = strconv.ParseInt(leadingNumber(value), 10, 64)
			}
		}
		if rest, ok := strings.CutPrefix(line, "tps = "); ok {
			if v, err := strconv.ParseFloat(leadingNumber(rest), 64); err == nil {
				if strings.Contains(rest, "without initial connection time") || strings.Contains(rest, "excluding connections establishing") {
					tpsExcl, sawTPSExcl = v, true
				} else if !sawTPSAny {
					tpsAny, sawTPSAny = v, true
				}
			}
		}
		if strings.Contains(line, "Run was aborted") {
			s.Incomplete = true
		}
	}
	switch {
	case sawTPSExcl:
		s.TPS = tpsExcl
	case sawTPSAny:
		s.TPS = tpsAny
	}

	aborted := map[string]bool{}
	for _, m := range reAbortedClient.FindAllStringSubmatch(stdout+"\n"+stderr, -1) {
		aborted[m[1]] = true
	}
	s.Aborted = len(aborted)

	if !sawProcessed {
		return s, ErrNoPgbenchReport
	}
	return s, nil
}

func leadingNumber(s string) string {
	return reLeadingNumber.FindString(strings.TrimSpace(s))
}

// tail returns at most the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
