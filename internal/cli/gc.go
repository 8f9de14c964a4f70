package cli

import (
	"os"
	"runtime/debug"
)

// How much the garbage collector runs. A run lives for a fraction of a
// second and allocates about 10 MiB at 1,200 sessions; with the default
// GOGC the collector runs every 4 MiB, and each cycle takes CPU from the
// server being rescued on a small machine and stalls the run between
// reading pg_stat_activity and signalling (at 1,200 sessions on 2 CPUs a
// run used 63-79 ms of CPU with it, 28-31 ms without). A watch lives for
// hours: it keeps a collector, at a quarter of the default pace (40
// dry-run rounds at 1,200 sessions: 1.2 s of CPU at GOGC 100, 0.7 s at
// 400).
const (
	// oneShotMemoryLimit is the heap a one-shot command may grow to
	// before its collector runs at all: its peak RSS stays under about
	// 45 MiB whatever it reads.
	oneShotMemoryLimit = 32 << 20
	// watchGCPercent and watchMemoryLimit pace a watch's collector; the
	// limit keeps its peak RSS under about 50 MiB.
	watchGCPercent   = 400
	watchMemoryLimit = 40 << 20
)

// tuneGC sets the collector for the command args name, unless GOGC or
// GOMEMLIMIT in the environment say otherwise. It returns whether it
// changed anything.
func tuneGC(args []string) bool {
	if len(args) == 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	if args[0] == "watch" {
		debug.SetGCPercent(watchGCPercent)
		debug.SetMemoryLimit(watchMemoryLimit)
		return true
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(oneShotMemoryLimit)
	return true
}
