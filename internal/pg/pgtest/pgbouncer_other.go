//go:build !linux

package pgtest

import "syscall"

// bouncerProcAttr leaves the process attributes alone where there is no
// parent-death signal; running as another user is Linux-only here.
func bouncerProcAttr(*bouncerAccount) *syscall.SysProcAttr { return nil }
