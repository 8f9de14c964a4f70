package hoststat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procReader reads small /proc files into one buffer it reuses, with
// plain open/read/close system calls: a sample of a few thousand backends
// reads tens of thousands of files, and os.ReadFile's stat, allocation
// and poller registration per file would be most of the cost.
type procReader struct {
	buf  []byte
	path []byte
}

// procFileLimit bounds what is read of one file. stat and io are a few
// hundred bytes; status is one to two kilobytes, RssAnon near its start.
const procFileLimit = 8 << 10

func newProcReader() *procReader {
	return &procReader{buf: make([]byte, procFileLimit), path: make([]byte, 0, 64)}
}

// read returns up to limit bytes of /proc/PID/name, or of /proc/name when
// pid is 0. The result is valid until the next read. Errors are
// *os.PathError, so errors.Is with fs.ErrNotExist and fs.ErrPermission
// works.
func (r *procReader) read(pid int, name string, limit int) ([]byte, error) {
	r.path = append(r.path[:0], "/proc/"...)
	if pid != 0 {
		r.path = strconv.AppendInt(r.path, int64(pid), 10)
		r.path = append(r.path, '/')
	}
	r.path = append(r.path, name...)
	path := string(r.path)

	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)

	buf := r.buf[:min(limit, len(r.buf))]
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// gone reports whether err from reading /proc/PID means the process does
// not exist (or has just exited: reading a dead task's files gives ESRCH).
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// procStat holds the fields of /proc/PID/stat that Sample uses.
type procStat struct {
	comm       string // field 2, without the parentheses
	ppid       int    // field 4
	cpuTicks   uint64 // fields 14 and 15, utime + stime, in clock ticks
	startTicks uint64 // field 22, start time in clock ticks since boot
}

// parseStat parses /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so it ends
// at the last ')'; the fields after it are separated by single spaces.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, errors.New("no command name in parentheses")
	}
	st := procStat{comm: string(b[open+1 : closing])}
	rest := b[closing+1:]
	var utime, stime uint64
	field := 2
	for len(rest) > 0 && field < 22 {
		rest = bytes.TrimLeft(rest, " ")
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		tok := rest[:end]
		rest = rest[end:]
		field++
		var err error
		switch field {
		case 4:
			var v uint64
			v, err = parseUint(tok)
			st.ppid = int(v)
		case 14:
			utime, err = parseUint(tok)
		case 15:
			stime, err = parseUint(tok)
		case 22:
			st.startTicks, err = parseUint(tok)
		}
		if err != nil {
			return procStat{}, fmt.Errorf("field %d: %w", field, err)
		}
	}
	if field < 22 {
		return procStat{}, fmt.Errorf("only %d fields", field)
	}
	st.cpuTicks = utime + stime
	return st, nil
}

// ioCounters holds the storage counters of /proc/PID/io.
type ioCounters struct {
	readBytes, writeBytes uint64
}

// parseIO parses /proc/PID/io, lines of "name: value".
func parseIO(b []byte) (ioCounters, error) {
	var c ioCounters
	var haveRead, haveWrite bool
	for line := range bytes.Lines(b) {
		name, value, ok := bytes.Cut(bytes.TrimSpace(line), []byte(": "))
		if !ok {
			continue
		}
		var err error
		switch string(name) {
		case "read_bytes":
			c.readBytes, err = parseUint(value)
			haveRead = true
		case "write_bytes":
			c.writeBytes, err = parseUint(value)
			haveWrite = true
		}
		if err != nil {
			return ioCounters{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	if !haveRead || !haveWrite {
		return ioCounters{}, errors.New("no read_bytes or write_bytes line")
	}
	return c, nil
}

// parseStatmAnon returns the resident anonymous memory described by
// /proc/PID/statm in bytes: "size resident shared text lib data dt" in
// pages, where resident is anonymous plus file plus shmem pages and shared
// is file plus shmem pages, so resident minus shared is exactly the
// RssAnon figure of /proc/PID/status. statm is read instead because the
// kernel formats it in a fraction of the time status takes.
func parseStatmAnon(b []byte, pageSize int64) (int64, error) {
	var fields [3]uint64
	rest := bytes.TrimSpace(b)
	for i := range fields {
		tok, after, _ := bytes.Cut(rest, []byte(" "))
		v, err := parseUint(tok)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", i+1, err)
		}
		fields[i], rest = v, after
	}
	resident, shared := fields[1], fields[2]
	if shared > resident {
		return 0, fmt.Errorf("shared %d pages above resident %d", shared, resident)
	}
	return int64(resident-shared) * pageSize, nil
}

// backendTitlePrefix begins the process title PostgreSQL sets in every
// server child on Linux ("postgres: user db host state", "postgres:
// checkpointer", with the cluster name after the prefix when set).
const backendTitlePrefix = "postgres: "

// hasBackendTitle reports whether a /proc/PID/cmdline read begins with
// PostgreSQL's process title.
func hasBackendTitle(cmdline []byte) bool {
	return bytes.HasPrefix(cmdline, []byte(backendTitlePrefix))
}

// parseUptime returns the first figure of /proc/uptime, seconds since
// boot with centiseconds.
func parseUptime(b []byte) (time.Duration, error) {
	first, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte(" "))
	secs, frac, _ := bytes.Cut(first, []byte("."))
	s, err := parseUint(secs)
	if err != nil {
		return 0, fmt.Errorf("uptime %q: %w", first, err)
	}
	d := time.Duration(s) * time.Second
	scale := time.Second
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("uptime %q: bad fraction", first)
		}
		scale /= 10
		d += time.Duration(c-'0') * scale
	}
	return d, nil
}

// bootTime returns the wall-clock instant the host booted, as now minus
// the uptime, with no monotonic reading.
func (r *procReader) bootTime() (time.Time, error) {
	b, err := r.read(0, "uptime", 128)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	up, err := parseUptime(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("/proc/uptime: %w", err)
	}
	return now.Add(-up).Round(0), nil
}

// atClockTick is AT_CLKTCK, the auxiliary vector entry holding the clock
// tick rate /proc reports times in (sysconf(_SC_CLK_TCK)).
const atClockTick = 17

// defaultClockTick is USER_HZ on every architecture Go supports on Linux.
const defaultClockTick = 100

var clockTick = sync.OnceValue(func() uint64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTick
	}
	return clockTickFromAuxv(b)
})

// clockTickFromAuxv finds AT_CLKTCK in an auxiliary vector of native-size,
// native-endian (type, value) word pairs.
func clockTickFromAuxv(b []byte) uint64 {
	word := strconv.IntSize / 8
	for i := 0; i+2*word <= len(b); i += 2 * word {
		var typ, val uint64
		if word == 8 {
			typ, val = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+word:])
		} else {
			typ, val = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+word:]))
		}
		if typ == atClockTick && val > 0 {
			return val
		}
		if typ == 0 { // AT_NULL ends the vector
			break
		}
	}
	return defaultClockTick
}

// parseUint parses a decimal without allocating.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a number: %q", b)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("number too large: %q", b)
		}
		v = v*10 + d
	}
	return v, nil
}
