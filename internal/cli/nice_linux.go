package cli

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// setNice gives the whole process the nice value n (nice(1)'s scale, 0 to
// 19); with idle it also puts it in the idle scheduling class
// (SCHED_IDLE), which gives it the CPU only when the tasks of the normal
// class leave it some: for an observer, never for a watch that acts. On Linux the nice value and the class
// belong to each thread, so every thread the Go runtime has started gets
// them; threads started later inherit them from the thread that starts
// them.
func setNice(n int, idle bool) error {
	apply := func(tid int) error {
		if idle {
			// Best effort: the nice value below is the priority asked for.
			_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
		}
		return syscall.Setpriority(syscall.PRIO_PROCESS, tid, n)
	}
	// A thread the runtime starts while this runs may inherit the old
	// priority: go over the threads until no new one shows up.
	done := map[int]bool{}
	var first error
	for range 5 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return apply(0)
		}
		fresh := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			done[tid], fresh = true, true
			if err := apply(tid); err != nil && first == nil {
				first = err
			}
		}
		if !fresh {
			break
		}
	}
	return first
}
