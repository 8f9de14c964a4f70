//go:build unix

package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// newServerProcAttr returns the process attributes for the postmaster: its
// own process group (so Stop can kill every backend at once) and, when
// as is non-nil, the postgres OS user.
func newServerProcAttr(as *runAs) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Credential: credential(as)}
	setParentDeathSignal(attr)
	return attr
}

// newClientProcAttr returns the process attributes for initdb and client
// programs: only the credential switch, if any.
func newClientProcAttr(as *runAs) *syscall.SysProcAttr {
	if as == nil {
		return nil
	}
	return &syscall.SysProcAttr{Credential: credential(as)}
}

// credential converts a runAs into a syscall credential (nil for nil).
func credential(as *runAs) *syscall.Credential {
	if as == nil {
		return nil
	}
	// Groups is empty, so the child drops root's supplementary groups.
	return &syscall.Credential{Uid: as.uid, Gid: as.gid}
}

// interruptProcess asks the postmaster for a fast shutdown.
func interruptProcess(p *os.Process) error {
	return p.Signal(syscall.SIGINT)
}

// killGroup sends SIGKILL to every process in the process group pgid.
func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// groupAlive reports whether any process in the process group pgid exists.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// traversable reports whether a process running as uid/gid may search every
// ancestor directory of path (not path itself).
func traversable(path string, uid, gid uint32) bool {
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return true
		}
		perm := fi.Mode().Perm()
		allowed := perm&0o001 != 0 ||
			(st.Uid == uid && perm&0o100 != 0) ||
			(st.Gid == gid && perm&0o010 != 0)
		if !allowed {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}
