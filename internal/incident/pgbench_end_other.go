//go:build !unix

package incident

import "errors"

// EndRun would end a pgbench -T run early with SIGALRM, which this
// platform does not have: it stops pgbench, which then prints no report.
func (p *Pgbench) EndRun() error {
	p.Stop()
	return errors.New("incident: ending a pgbench run early needs SIGALRM (unix only)")
}
