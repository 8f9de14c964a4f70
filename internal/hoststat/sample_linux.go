package hoststat

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"
)

// reading is one backend's counters at one instant.
type reading struct {
	at    time.Time // monotonic instant the stat file was read
	stat  procStat
	io    ioCounters
	ioErr string // why io could not be read; "" when it was
}

// sampler holds what one Sample call shares between backends.
type sampler struct {
	r        *procReader
	boot     time.Time
	tick     uint64
	pageSize int64
	parents  map[int]string // comm of each parent pid seen, "" if unreadable
}

func sample(ctx context.Context, backends []Backend, interval time.Duration) (map[int]Stats, error) {
	s := &sampler{r: newProcReader(), tick: clockTick(), pageSize: int64(os.Getpagesize()), parents: make(map[int]string)}
	boot, err := s.r.bootTime()
	if err != nil {
		return nil, err
	}
	s.boot = boot

	firsts := make(map[int]reading, len(backends))
	var left leftOut
	for _, b := range backends {
		if _, dup := firsts[b.PID]; dup {
			continue
		}
		first, why := s.identify(b)
		if why != accepted {
			left.add(why)
			continue
		}
		firsts[b.PID] = first
	}
	if len(firsts) == 0 {
		return nil, left.err(len(backends))
	}

	if err := wait(ctx, interval); err != nil {
		return nil, err
	}

	out := make(map[int]Stats, len(firsts))
	for pid, first := range firsts {
		if st, ok := s.second(pid, first); ok {
			out[pid] = st
		}
	}
	return out, nil
}

// identify checks that b is a PostgreSQL process of this host that started
// at b.BackendStart and returns its first reading, or why it is not.
func (s *sampler) identify(b Backend) (reading, verdict) {
	if b.PID <= 0 || b.BackendStart.IsZero() {
		return reading{}, noStartTime
	}
	raw, err := s.r.read(b.PID, "stat", procFileLimit)
	at := time.Now()
	if err != nil {
		return reading{}, readFailure(err)
	}
	st, err := parseStat(raw)
	if err != nil {
		return reading{}, unreadable
	}

	cmdline, err := s.r.read(b.PID, "cmdline", len(backendTitlePrefix))
	if err != nil {
		return reading{}, readFailure(err)
	}
	if !hasBackendTitle(cmdline) || s.parentComm(st.ppid) != st.comm {
		return reading{}, notPostgres
	}
	if d := s.started(st).Sub(b.BackendStart); d > StartTolerance || d < -StartTolerance {
		return reading{}, otherStart
	}

	first := reading{at: at, stat: st}
	first.io, first.ioErr = s.readIO(b.PID)
	return first, accepted
}

// second reads pid again and computes its stats over the interval since
// first. ok is false when the process has exited or is no longer the one
// first saw (its pid was reused).
func (s *sampler) second(pid int, first reading) (Stats, bool) {
	raw, err := s.r.read(pid, "stat", procFileLimit)
	at := time.Now()
	if err != nil {
		return Stats{}, false
	}
	st, err := parseStat(raw)
	if err != nil || st.startTicks != first.stat.startTicks {
		return Stats{}, false
	}
	secs := at.Sub(first.at).Seconds()
	if secs <= 0 {
		return Stats{}, false
	}

	var out Stats
	if st.cpuTicks >= first.stat.cpuTicks {
		out.CPUPercent = float64(st.cpuTicks-first.stat.cpuTicks) / float64(s.tick) / secs * 100
	}

	if first.ioErr != "" {
		out.unavailable(FactIO, first.ioErr)
	} else if io, why := s.readIO(pid); why != "" {
		out.unavailable(FactIO, why)
	} else {
		out.ReadBytesPerSec = rate(first.io.readBytes, io.readBytes, secs)
		out.WriteBytesPerSec = rate(first.io.writeBytes, io.writeBytes, secs)
	}

	if statm, err := s.r.read(pid, "statm", procFileLimit); err != nil {
		if gone(err) {
			return Stats{}, false
		}
		out.unavailable(FactMemory, "cannot read "+pathOf(err)+": "+errText(err))
	} else if mem, err := parseStatmAnon(statm, s.pageSize); err != nil {
		out.unavailable(FactMemory, "/proc/PID/statm: "+err.Error())
	} else {
		out.MemoryBytes = mem
	}
	return out, true
}

// started returns the wall-clock start of a process.
func (s *sampler) started(st procStat) time.Time {
	return s.boot.Add(time.Duration(st.startTicks) * time.Second / time.Duration(s.tick))
}

// parentComm returns the command name of pid, read once per Sample.
func (s *sampler) parentComm(pid int) string {
	if comm, ok := s.parents[pid]; ok {
		return comm
	}
	comm := ""
	if raw, err := s.r.read(pid, "stat", procFileLimit); err == nil {
		if st, err := parseStat(raw); err == nil {
			comm = st.comm
		}
	}
	s.parents[pid] = comm
	return comm
}

// readIO reads /proc/PID/io, or says why it cannot.
func (s *sampler) readIO(pid int) (ioCounters, string) {
	raw, err := s.r.read(pid, "io", procFileLimit)
	switch {
	case errors.Is(err, os.ErrPermission):
		return ioCounters{}, "cannot read /proc/PID/io: permission denied (needs root, CAP_SYS_PTRACE or the server's OS user)"
	case gone(err) && pidExists(pid):
		return ioCounters{}, "no /proc/PID/io: the kernel has no task I/O accounting"
	case err != nil:
		return ioCounters{}, "cannot read " + pathOf(err) + ": " + errText(err)
	}
	c, err := parseIO(raw)
	if err != nil {
		return ioCounters{}, "/proc/PID/io: " + err.Error()
	}
	return c, ""
}

// pidExists reports whether /proc/PID is there.
func pidExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// rate is the per-second increase of a counter, 0 if it went backwards.
func rate(before, after uint64, secs float64) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / secs
}

func (st *Stats) unavailable(f Fact, why string) {
	if st.Unavailable == nil {
		st.Unavailable = make(map[Fact]string, 1)
	}
	st.Unavailable[f] = why
}

// readFailure classifies an error reading /proc/PID during identification.
func readFailure(err error) verdict {
	if gone(err) {
		return noProcess
	}
	return unreadable
}

// pathOf returns the path of a *os.PathError, or "/proc".
func pathOf(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path
	}
	return "/proc"
}

// errText returns the underlying reason of a *os.PathError.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
