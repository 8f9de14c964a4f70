package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat on Linux.
const userHZ = 100

// serverCPU returns the CPU time the PostgreSQL server has used so far:
// user plus system time of the postmaster and of every live child of it
// (background processes and backends; each calls setsid, so they are not
// in the postmaster's process group), plus the postmaster's reaped
// children (cutime, cstime), which holds every backend that has exited.
// The difference between two readings is what the server spent in
// between, to 10 ms; a backend alive at the first reading that exits
// before the second is counted whole.
//
// A backend that exits while /proc is being read would be counted twice
// or not at all, so the reading is repeated until the postmaster's reaped
// total is the same before and after it.
func serverCPU(postmaster int) (time.Duration, bool) {
	if postmaster <= 0 {
		return 0, false
	}
	for attempt := 0; attempt < 10; attempt++ {
		before, ok := reaped(postmaster)
		if !ok {
			return 0, false
		}
		live := liveChildren(postmaster)
		after, ok := reaped(postmaster)
		if !ok {
			return 0, false
		}
		if before == after {
			return time.Duration(live+after) * time.Second / userHZ, true
		}
	}
	return 0, false
}

// reaped returns the postmaster's own CPU ticks plus those of its reaped
// children.
func reaped(postmaster int) (int64, bool) {
	f, ok := statFields(fmt.Sprintf("/proc/%d/stat", postmaster))
	if !ok {
		return 0, false
	}
	// f[0] is field 3 (state): utime, stime, cutime, cstime are 14 to 17.
	return atoi(f[11]) + atoi(f[12]) + atoi(f[13]) + atoi(f[14]), true
}

// liveChildren returns the CPU ticks of the postmaster's live children.
func liveChildren(postmaster int) int64 {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, d := range dirs {
		f, ok := statFields(filepath.Join(d, "stat"))
		if !ok {
			continue
		}
		// ppid is field 4.
		if ppid, _ := strconv.Atoi(string(f[1])); ppid == postmaster {
			ticks += atoi(f[11]) + atoi(f[12])
		}
	}
	return ticks
}

// statFields returns the fields of /proc/PID/stat after the command name,
// which may itself contain spaces and parentheses.
func statFields(path string) ([][]byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 15 {
		return nil, false
	}
	return f, true
}

func atoi(b []byte) int64 {
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

// cpuTimes is the machine's CPU time so far, busy and total, from the
// first line of /proc/stat (in USER_HZ ticks).
type cpuTimes struct{ busy, total int64 }

func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	var t cpuTimes
	// cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:min(len(f), 9)] {
		n := atoi(v)
		t.total += n
		if i != 3 && i != 4 {
			t.busy += n
		}
	}
	return t
}

// busySince is the share of the machine's CPU time that was busy since t.
func (t cpuTimes) busySince(then cpuTimes) float64 {
	if t.total <= then.total {
		return 0
	}
	return float64(t.busy-then.busy) / float64(t.total-then.total) * 100
}

// loadAvg is the one-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return "?"
	}
	return string(f[0])
}
