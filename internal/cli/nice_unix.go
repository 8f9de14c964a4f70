//go:build unix && !linux

package cli

import "syscall"

// setNice gives the process the nice value n (nice(1)'s scale, 0 to 19).
// The idle scheduling class is Linux's; here idle changes nothing.
func setNice(n int, idle bool) error { return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n) }
