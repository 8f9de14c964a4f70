package main

import (
	"context"
	"fmt"
	"io"
)

// startupResult is the start-to-exit time of one command over many runs.
type startupResult struct {
	Name   string
	Times  durations
	MaxRSS int64
}

// measureStartup runs `pgrunbook version`, `pgrunbook list` and /bin/true
// (the cost of any fork and exec on this machine) runs times each,
// interleaved so that a burst of noise hits all three alike.
func measureStartup(ctx context.Context, w io.Writer, t tools, runs int) ([]startupResult, error) {
	heading(w, fmt.Sprintf("Startup (%d runs each, start to exit)", runs))
	res := []startupResult{{Name: "pgrunbook version"}, {Name: "pgrunbook list"}, {Name: "/bin/true (floor of exec and of the RSS measure)"}}
	cmds := []func() (child, error){
		func() (child, error) { return t.pgrunbook(ctx, "version") },
		func() (child, error) { return t.pgrunbook(ctx, "list") },
		func() (child, error) { return t.measured(ctx, "/bin/true") },
	}
	// One unmeasured round warms the page cache.
	for i := -1; i < runs; i++ {
		for j, mk := range cmds {
			c, err := mk()
			if err != nil {
				return nil, err
			}
			if c.ExitCode != 0 {
				return nil, fmt.Errorf("%s exited %d:\n%s", res[j].Name, c.ExitCode, c.Output)
			}
			if i < 0 {
				continue
			}
			res[j].Times = append(res[j].Times, c.Wall)
			res[j].MaxRSS = max(res[j].MaxRSS, c.MaxRSS)
		}
	}
	rows := [][]string{{"command", "median", "p95", "min", "peak RSS"}}
	for _, r := range res {
		rows = append(rows, []string{r.Name, ms(r.Times.median()), ms(r.Times.p95()), ms(r.Times.min()), mib(r.MaxRSS)})
	}
	table(w, "  ", rows)
	return res, nil
}
