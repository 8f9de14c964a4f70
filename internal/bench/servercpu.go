package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat on Linux.
const userHZ = 100

// serverCPU returns the CPU time the PostgreSQL server has used so far:
// user plus system time of every live process in the postmaster's process
// group (the postmaster, its background processes and backends) plus the
// postmaster's reaped children (cutime, cstime), which holds every backend
// that has exited. The difference between two readings is what the server
// spent in between, to 10 ms; a backend alive at the first reading that
// exits before the second is counted whole.
func serverCPU(postmaster int) (time.Duration, bool) {
	if postmaster <= 0 {
		return 0, false
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, false
	}
	var ticks int64
	found := false
	for _, d := range dirs {
		f, ok := statFields(filepath.Join(d, "stat"))
		if !ok {
			continue
		}
		// f[0] is field 3 (state): pgrp is field 5, utime..cstime 14..17.
		if pgrp, _ := strconv.Atoi(string(f[2])); pgrp != postmaster {
			continue
		}
		ticks += atoi(f[11]) + atoi(f[12])
		if pid, _ := strconv.Atoi(filepath.Base(d)); pid == postmaster {
			ticks += atoi(f[13]) + atoi(f[14])
			found = true
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, found
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
