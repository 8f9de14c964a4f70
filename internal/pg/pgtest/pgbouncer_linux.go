package pgtest

import "syscall"

// bouncerProcAttr runs PgBouncer in its own process group, as the postgres
// OS user when as is set, and has the kernel end it (SIGTERM) if the test
// binary dies without stopping it.
func bouncerProcAttr(as *bouncerAccount) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if as != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(as.uid), Gid: uint32(as.gid)}
	}
	return attr
}
