package cli

import (
	"os"
	"strconv"
	"syscall"
)

// setNice gives the whole process the nice value n (nice(1)'s scale, 0 to
// 19). On Linux the nice value belongs to each thread, so every thread the
// Go runtime has started gets it; threads started later inherit it from
// the thread that starts them.
func setNice(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return syscall.Setpriority(syscall.PRIO_PROCESS, 0, n)
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}
