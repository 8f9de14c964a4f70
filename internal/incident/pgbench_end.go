//go:build unix

package incident

import (
	"fmt"
	"syscall"
)

// EndRun ends a pgbench run started with a Duration (-T) now, as if the
// duration had elapsed: pgbench times -T with alarm(2), so SIGALRM makes
// its clients finish their current transaction, and pgbench prints its
// full report and exits. Wait then returns the summary. A load can thus
// run "until the caller is done" with a generous Duration. Do not use it
// on a run without a Duration: SIGALRM would kill pgbench.
func (p *Pgbench) EndRun() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGALRM); err != nil {
		select {
		case <-p.done:
			return nil
		default:
		}
		return fmt.Errorf("incident: end the pgbench run: %w", err)
	}
	return nil
}
