package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/pgrunbook/pgrunbook/internal/cli"
)

// profileRuns is how many in-process runs a CPU profile covers.
const profileRuns = 10

// profile runs `pgrunbook run cancel-long-queries --yes` in-process
// profileRuns times on freshly staged statements with the CPU profiler on,
// and writes the profile to path. The profile also sees the bench's own
// restaging; read it with
//
//	go tool pprof -top -focus 'cli.Main' PATH
func (c *comparison) profile(ctx context.Context, w io.Writer, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	n := len(c.fleet.long)
	for i := 0; i < profileRuns; i++ {
		if err := c.prepare(ctx); err != nil {
			return err
		}
		var errOut bytes.Buffer
		code := cli.Main(ctx, []string{"run", "cancel-long-queries", "--yes",
			"--max-targets", fmt.Sprint(n), "--set", "min_runtime=" + c.minRuntime.String(),
			"-d", c.dsn, "--transcript", filepath.Join(c.dir, fmt.Sprintf("profile-%02d.jsonl", i))},
			cli.IO{In: os.Stdin, Out: io.Discard, Err: &errOut})
		if code != 0 {
			return fmt.Errorf("in-process run exited %d: %s", code, errOut.String())
		}
		if err := c.check(ctx, "in-process run"); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "  CPU profile of %d in-process runs: %s (go tool pprof -top -focus cli.Main %s)\n", profileRuns, path, path)
	return nil
}
