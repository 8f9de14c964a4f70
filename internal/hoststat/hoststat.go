package hoststat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backend names a server backend to sample: its pid and the backend_start
// PostgreSQL reports for it.
type Backend struct {
	PID          int
	BackendStart time.Time
}

// Fact names one of the OS-level facts in Stats.
type Fact string

// The facts Sample reads.
const (
	FactCPU    Fact = "cpu"    // CPUPercent
	FactMemory Fact = "memory" // MemoryBytes
	FactIO     Fact = "io"     // ReadBytesPerSec and WriteBytesPerSec
)

// Stats are one backend's OS-level facts over the sampling interval.
type Stats struct {
	// CPUPercent is the backend's share of one CPU over the interval, user
	// plus system time: 0 to 100 for a single-threaded backend, at most
	// 100 times the number of CPUs.
	CPUPercent float64
	// MemoryBytes is the backend's resident private memory at the end of
	// the interval (RssAnon; see the package documentation for why not
	// VmRSS).
	MemoryBytes int64
	// ReadBytesPerSec and WriteBytesPerSec are the rates of bytes read
	// from and dirtied for storage over the interval.
	ReadBytesPerSec  float64
	WriteBytesPerSec float64
	// Unavailable maps each fact that could not be read to a one-line
	// reason, for example FactIO when /proc/PID/io is not readable by this
	// user. The fields of such a fact are zero and mean "unknown", not
	// "none". Unavailable is nil when every fact was read.
	Unavailable map[Fact]string
}

// Available reports whether fact f was read for this backend.
func (s Stats) Available(f Fact) bool {
	_, missing := s.Unavailable[f]
	return !missing
}

// ErrNotLocal is wrapped by Sample's error when none of the backends is a
// PostgreSQL process on this host whose start matches its backend_start:
// the server is remote, runs in another PID namespace, or its processes
// are hidden from this user. The wrapping error's text says which.
var ErrNotLocal = errors.New("no backend is a process on this host")

// StartTolerance is how far a process's start time may be from the
// backend_start PostgreSQL reports for it.
//
// A backend records backend_start right after the postmaster forks it,
// so the two instants normally differ by well under a millisecond; the
// kernel's figure is rounded to a clock tick (10 ms) and the boot time to
// a centisecond. Two seconds leave room for a host so overloaded that the
// new process waits to be scheduled (this package is used in exactly such
// incidents) and for small clock adjustments. A wrong match would need a
// PostgreSQL backend on this host with the same pid that started within
// the same two seconds. A clock step larger than this after a backend
// started makes that backend fail the check: it is left out, never
// misattributed.
const StartTolerance = 2 * time.Second

// Sample reads the operating system's figures for every backend twice,
// interval apart, and returns the stats of the backends that are local
// PostgreSQL processes of this server, by pid. Backends that fail the
// identity checks (see the package documentation), have no known
// backend_start, or exit during the interval are left out.
//
// When none of the backends is such a process, Sample returns an error
// wrapping ErrNotLocal with a one-line reason for the operator. On
// systems other than Linux it returns an error wrapping
// errors.ErrUnsupported. An empty backends list gives an empty map at once.
//
// interval must be positive; CPU time is counted in 10 ms ticks, so an
// interval of a second gives the CPU share to about one percent. Sample
// returns ctx's error if ctx ends before the second reading.
func Sample(ctx context.Context, backends []Backend, interval time.Duration) (map[int]Stats, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("hoststat: sampling interval must be positive, got %v", interval)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(backends) == 0 {
		return map[int]Stats{}, nil
	}
	return sample(ctx, backends, interval)
}

// wait blocks for d or until ctx ends, returning ctx's error in that case.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
