package cli

import (
	"os"
	"runtime/debug"
)

// How often the garbage collector runs. A run lives for a fraction of a
// second and allocates about 10 MiB at 1,200 sessions. At the default GOGC
// (100) the collector runs every 4 MiB, and each cycle takes CPU from the
// server being rescued on a small machine and stalls the run between
// reading pg_stat_activity and signalling: at 1,200 sessions on 2 CPUs a
// run used 63-79 ms of CPU with it, 28-31 ms without. At GOGC 400 the
// first cycle comes at 16 MiB, so a run at that size needs none, and a
// larger one collects at a fifth of its heap's growth: never more often
// than the default, whatever it reads, and at most about five times its
// live heap. A watch lives for hours; at GOGC 200 it collects half as
// often as by default, for a peak heap of about three times what it keeps
// (40 dry-run rounds at 1,200 sessions: 0.61-0.79 s of CPU at 100,
// 0.60-0.63 s at 200, peak RSS 24-26 and 27-31 MiB). The other commands
// keep the default.
var commandGCPercent = map[string]int{
	"run":    400,
	"resume": 400,
	"watch":  200,
}

// tuneGC sets the collector's pace for the command args name, unless GOGC
// in the environment says otherwise. It returns whether it changed it.
func tuneGC(args []string) bool {
	if len(args) == 0 || os.Getenv("GOGC") != "" {
		return false
	}
	percent, ok := commandGCPercent[args[0]]
	if !ok {
		return false
	}
	debug.SetGCPercent(percent)
	return true
}
