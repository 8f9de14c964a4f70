package cli

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// setNice gives the whole process the nice value n (nice(1)'s scale, 0 to
// 19); at 19, the lowest priority, it also puts it in the idle scheduling
// class (SCHED_IDLE), which gives it the CPU only when the tasks of the
// normal class leave it some. On Linux the nice value and the class
// belong to each thread, so every thread the Go runtime has started gets
// them; threads started later inherit them from the thread that starts
// them.
func setNice(n int) error {
	apply := func(tid int) error {
		if n == 19 {
			// Best effort: the nice value below is the priority asked for.
			_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
		}
		return syscall.Setpriority(syscall.PRIO_PROCESS, tid, n)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return apply(0)
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := apply(tid); err != nil && first == nil {
			first = err
		}
	}
	return first
}
