package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
)

// runHold stages the end-to-end sessions (-idle idle ones, -long running
// pg_sleep) and holds them, for probing a build by hand against the same
// load as the end-to-end comparison: it prints the DSN and the binary it
// built, restages the long statements on every line read from standard
// input, and tears everything down when the input ends.
func runHold(ctx context.Context, w io.Writer, cfg config) (err error) {
	p, err := startPart(ctx, w, cfg, "pgrunbook bench, hold")
	if err != nil {
		return err
	}
	defer func() {
		if serr := p.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	dsn := p.cluster.DSN("postgres")
	fl, err := stageFleet(ctx, dsn, cfg.Idle, cfg.Long)
	if err != nil {
		return err
	}
	defer fl.close()
	if err := fl.restage(ctx, p.ctl); err != nil {
		return err
	}
	fmt.Fprintf(w, "DSN: %s\nBIN: %s\n", dsn, p.tools.Pgrunbook)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if err := fl.restage(ctx, p.ctl); err != nil {
			return err
		}
		fmt.Fprintln(w, "restaged")
	}
	return nil
}
