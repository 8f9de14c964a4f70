package transcript

import (
	"fmt"
	"os"
	"strconv"
)

// Limits bound what a transcript reader accepts, so that a file that is
// not a transcript (or a transcript beyond all reason) is refused before
// it costs the machine its memory: the reader keeps every event.
type Limits struct {
	// Line is the most bytes one line (one event, without its newline)
	// may take. The largest event is a snapshot: every row of
	// pg_stat_activity with its query text. 5,000 sessions with the
	// default track_activity_query_size of 1 kB take about 10 MiB.
	Line int
	// File is the most bytes a transcript may take: hundreds of such
	// snapshots.
	File int64
}

// Default bounds, and the environment variables that raise them (a whole
// number of MiB).
const (
	DefaultMaxLine = 64 << 20
	DefaultMaxFile = 1 << 30
	EnvMaxLine     = "PGRUNBOOK_TRANSCRIPT_MAX_LINE_MIB"
	EnvMaxFile     = "PGRUNBOOK_TRANSCRIPT_MAX_MIB"
)

// DefaultLimits are the bounds without the environment.
var DefaultLimits = Limits{Line: DefaultMaxLine, File: DefaultMaxFile}

// LimitsFromEnv returns DefaultLimits with each bound replaced by its
// environment variable when that holds a positive whole number of MiB.
func LimitsFromEnv() Limits {
	lim := DefaultLimits
	if n, ok := envMiB(EnvMaxLine); ok {
		lim.Line = int(min(n, 1<<30)) << 20 // a line stays under 1 TiB
	}
	if n, ok := envMiB(EnvMaxFile); ok {
		lim.File = min(n, 1<<40) << 20
	}
	return lim
}

func envMiB(name string) (int64, bool) {
	n, err := strconv.ParseInt(os.Getenv(name), 10, 64)
	return n, err == nil && n > 0
}

// LimitError is a transcript, or one line of it, over its bound.
type LimitError struct {
	// Name is the transcript's path ("" when read from a stream).
	Name string
	// Line is the line over Limits.Line; 0 when the file is over
	// Limits.File.
	Line int
	// Size is how large the file is, or how much of it had been read
	// when the bound was passed (file bound only).
	Size int64
	// Limit is the bound passed, in bytes.
	Limit int64
}

func (e *LimitError) Error() string {
	name := e.Name
	if name == "" {
		name = "the transcript"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d is longer than %s, the most one transcript event may take: it is not a pgrunbook transcript, or its event is larger than any run should write; to read it anyway, raise the bound with %s=<MiB>",
			name, e.Line, mib(e.Limit), EnvMaxLine)
	}
	return fmt.Sprintf("%s takes %s or more, over the %s a transcript may take: it is not a pgrunbook transcript, or a run wrote far more than any incident needs; to read it anyway, raise the bound with %s=<MiB>",
		name, mib(e.Size), mib(e.Limit), EnvMaxFile)
}

// mib writes a size in MiB.
func mib(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
