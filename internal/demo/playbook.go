package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/render"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// playbookRun is one unattended run of a built-in playbook.
type playbookRun struct {
	// Name is the built-in playbook's name.
	Name string
	// Sets are NAME=VALUE parameter settings, as given to --set.
	Sets []string
	// Transcript is the path of the run's transcript.
	Transcript string
	// Result is how the run ended, valid once run returned nil.
	Result engine.Result
}

// run loads the playbook and runs it in --yes mode against dsn the way
// `pgrunbook run NAME --yes` does: transcript first, then pgrunbook's own
// connection, the renderer on out, and engine.Run. It reports whether the
// transcript was created (so that it can be listed even when the run
// failed). The error is non-nil only when the run could not take place or
// its transcript could not be written; a run that ends badly is
// r.Result.
func (r *playbookRun) run(ctx context.Context, out io.Writer, dsn string, width int) (created bool, err error) {
	src, ok := playbooks.Source(r.Name)
	if !ok {
		return false, fmt.Errorf("no built-in playbook %q (built-in: %v)", r.Name, playbooks.Names())
	}
	pb, err := playbook.Parse("builtin:"+r.Name, src)
	if err != nil {
		return false, fmt.Errorf("built-in playbook %s is invalid: %w", r.Name, err)
	}
	vals, err := pb.Resolve(r.Sets)
	if err != nil {
		return false, fmt.Errorf("playbook %s: %w", r.Name, err)
	}

	tw, err := transcript.Create(r.Transcript)
	if err != nil {
		return false, err
	}
	defer tw.Close()

	client, err := pg.Connect(ctx, pg.Options{DSN: dsn})
	if err != nil {
		tw.Close()
		os.Remove(r.Transcript)
		return false, err
	}
	defer client.Close(ctx)

	rd := &render.Renderer{W: out, Width: width, TranscriptPath: r.Transcript}
	info := client.Info()
	r.Result, err = engine.Run(ctx, engine.Options{
		Playbook:   pb,
		Params:     vals,
		DB:         client,
		Mode:       engine.Yes,
		Transcript: tw,
		Show:       rd.Event,
		Server: transcript.Server{
			Host: info.Host, Port: info.Port, User: info.User, Database: info.Database, Version: info.Version,
			BackendPID: info.PID, Superuser: info.Privileges.Superuser,
			SignalBackend: info.Privileges.SignalBackend, ReadAllStats: info.Privileges.ReadAllStats,
		},
		Version: version(),
	})
	if err != nil {
		return true, fmt.Errorf("playbook %s: the transcript could not be written, so the run stopped: %w", r.Name, err)
	}
	return true, nil
}

// version names the build for the transcripts' run_started event.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version + " (demo)"
	}
	return "dev (demo)"
}

// signals is what the transcripts of a demo say was done to each pid.
type signals struct {
	// actions lists, per pid, the signal attempts in order.
	actions map[int][]attempt
	// verifyFailed holds the pids that failed some verify.
	verifyFailed map[int]bool
}

// attempt is one action event: which function, and what came of it.
type attempt struct {
	Function activity.Function
	Outcome  string
}

// signalled reports whether fn was sent to pid and the signal went out.
func (s *signals) signalled(pid int, fn activity.Function) bool {
	for _, a := range s.actions[pid] {
		if a.Function == fn && a.Outcome == string(activity.Signalled) {
			return true
		}
	}
	return false
}

// readSignals collects the action and verified events of the transcripts.
func readSignals(paths []string) (*signals, error) {
	s := &signals{actions: map[int][]attempt{}, verifyFailed: map[int]bool{}}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		rr, err := transcript.Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read transcript %s: %w", p, err)
		}
		for _, ev := range rr.Events {
			switch ev.Type {
			case transcript.Action:
				s.actions[ev.PID] = append(s.actions[ev.PID], attempt{Function: ev.Function, Outcome: ev.Outcome})
			case transcript.Verified:
				for _, pid := range ev.Failed {
					s.verifyFailed[pid] = true
				}
			}
		}
	}
	return s, nil
}
