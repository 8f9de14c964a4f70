//go:build !unix

package sandbox

import (
	"os"
	"syscall"
)

func newServerProcAttr(*runAs) *syscall.SysProcAttr { return nil }

func newClientProcAttr(*runAs) *syscall.SysProcAttr { return nil }

func interruptProcess(p *os.Process) error { return p.Kill() }

func killGroup(int) error { return nil }

func groupAlive(int) bool { return false }

func traversable(string, uint32, uint32) bool { return true }
