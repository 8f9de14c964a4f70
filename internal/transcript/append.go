package transcript

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"
)

// AppendInfo says what OpenAppend found at the end of a transcript.
type AppendInfo struct {
	// Events are the transcript's events, in order.
	Events []Event
	// Head is the LineHash of the last complete line, which the first
	// appended event records as its prev.
	Head string
	// Dropped is the final line that was cut off mid-write (a run killed
	// while writing it), removed from the file so that the chain can go
	// on; "" when the file ended with a complete line. The caller records
	// it in the first appended event, so no byte is lost from the record.
	Dropped string
}

// OpenAppend opens an existing transcript to continue it: pgrunbook
// resume. The hash chain must hold up to the last complete line (a
// transcript that was changed after it was written is not continued). A
// final line cut off mid-write cannot be completed: it is removed from the
// file and returned in AppendInfo.Dropped; a final event whose newline was
// cut off gets its newline. The Writer goes on with the next seq and the
// last line's hash, and holds the transcript's lock (see Create) until it
// is closed: a transcript whose run is still going, or that another
// resume holds, is refused.
func OpenAppend(path string) (*Writer, *AppendInfo, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the transcript: %w", err)
	}
	fail := func(err error) (*Writer, *AppendInfo, error) {
		f.Close()
		return nil, nil, err
	}
	if err := lockFile(f); err != nil {
		return fail(fmt.Errorf("transcript %s is in use (its run is still going, or another resume holds it): %w", path, err))
	}
	lim := LimitsFromEnv()
	if fi, err := f.Stat(); err == nil && fi.Size() > lim.File {
		return fail(&LimitError{Name: path, Size: fi.Size(), Limit: lim.File})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(fmt.Errorf("cannot read the transcript: %w", err))
	}
	// One pass reads the events and checks the chain.
	chain := &ReadResult{}
	err = scan(bytes.NewReader(data), path, lim, func(ev Event) { chain.Events = append(chain.Events, ev) }, chain)
	var le *LimitError
	if errors.As(err, &le) {
		return fail(err)
	}
	if err := chainError(chain, err); err != nil {
		return fail(fmt.Errorf("transcript %s: its hash chain does not hold, so it is not continued: %w", path, err))
	}
	if len(chain.Events) == 0 {
		return fail(fmt.Errorf("transcript %s holds no event", path))
	}
	info := &AppendInfo{Head: chain.Head, Events: chain.Events}
	keep := len(data)
	if chain.Truncated {
		keep = bytes.LastIndexByte(data, '\n') + 1
		info.Dropped = string(data[keep:])
		if err := f.Truncate(int64(keep)); err != nil {
			return fail(fmt.Errorf("cannot remove the cut-off last line of %s: %w", path, err))
		}
	} else if !bytes.HasSuffix(data, []byte("\n")) {
		if _, err := f.Write([]byte("\n")); err != nil {
			return fail(fmt.Errorf("cannot end the last line of %s: %w", path, err))
		}
		data = append(data, '\n')
		keep = len(data)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("syncing transcript %s: %w", path, err))
	}
	w := &Writer{out: f, sync: f.Sync, close: f.Close, path: path, now: time.Now,
		seq: int64(len(chain.Events)), prev: chain.Head}
	if first := info.Events[0]; first.Type == RunStarted {
		w.dryRun = first.Mode == ModeDryRun
	}
	return w, info, nil
}
