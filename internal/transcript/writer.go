package transcript

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// RedactedQuery replaces query text in a transcript written with
// RedactQueries.
const RedactedQuery = "<redacted>"

// Writer appends events to a transcript. Every event is written in one
// write call and, for a file, synced before Write returns, so what Write
// accepted survives a crash of pgrunbook or of the machine. Each event
// carries the hash of the line before it (Event.Prev).
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	sync   func() error // nil when the destination needs no sync
	close  func() error // nil when there is nothing to close
	closed bool
	path   string
	seq    int64
	// prev is the hex SHA-256 of the last line written.
	prev string
	// RedactQueries replaces query text with RedactedQuery.
	RedactQueries bool
	// now is the clock; tests replace it.
	now func() time.Time
}

// Create creates a new transcript at path with mode 0600, creating its
// directory (mode 0700) if needed. It refuses to overwrite an existing file.
func Create(path string) (*Writer, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the transcript's directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create the transcript: %w", err)
	}
	// The umask may have narrowed the mode; never widen it, but make sure
	// group and others have nothing.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot restrict the transcript to its owner: %w", err)
	}
	// Held until Close: pgrunbook resume refuses a transcript whose run
	// is still going.
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock the transcript: %w", err)
	}
	return &Writer{out: f, sync: f.Sync, close: f.Close, path: path, now: time.Now}, nil
}

// NewWriter returns a Writer that appends to w, for transcripts that live
// in memory: an offline run's record (pgrunbook test, replay --against)
// or a test's. Nothing is synced or closed; the events are the same,
// hash chain included, as in a file.
func NewWriter(w io.Writer) *Writer {
	return &Writer{out: w, now: time.Now}
}

// Path is the transcript's file path ("" for a Writer from NewWriter).
func (w *Writer) Path() string { return w.path }

// name is the transcript's path for messages.
func (w *Writer) name() string {
	if w.path == "" {
		return "(in memory)"
	}
	return w.path
}

// Write stamps the event with the next sequence number, the current time
// (UTC) and the hash of the previous line, appends it as one line and
// syncs the destination. It returns the event as written.
func (w *Writer) Write(ev Event) (Event, error) {
	out, err := w.WriteBatch([]Event{ev})
	if err != nil {
		return ev, err
	}
	return out[0], nil
}

// WriteBatch writes several events as Write would, in order, with one
// write call and one sync for all of them: the cost of recording the N
// outcomes of one signalling statement is one fsync, not N. It returns
// the events as written.
func (w *Writer) WriteBatch(evs []Event) ([]Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return evs, fmt.Errorf("transcript %s is closed", w.name())
	}
	out := make([]Event, len(evs))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	seq, prev := w.seq, w.prev
	for i, ev := range evs {
		seq++
		ev.Seq = seq
		ev.Time = w.now().UTC()
		ev.Prev = prev
		rec := ev
		if w.RedactQueries {
			rec = redact(ev)
		}
		start := buf.Len()
		if err := enc.Encode(rec); err != nil {
			return evs, fmt.Errorf("encoding transcript event: %w", err)
		}
		prev = LineHash(bytes.TrimSuffix(buf.Bytes()[start:], []byte("\n")))
		out[i] = ev
	}
	if _, err := w.out.Write(buf.Bytes()); err != nil {
		return evs, fmt.Errorf("writing transcript %s: %w", w.name(), err)
	}
	// What was written is on the page now: the chain goes on from it even
	// if the sync below fails.
	w.seq, w.prev = seq, prev
	if w.sync != nil {
		if err := w.sync(); err != nil {
			return evs, fmt.Errorf("syncing transcript %s: %w", w.name(), err)
		}
	}
	return out, nil
}

// Close closes the file. It is safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.close == nil {
		return nil
	}
	return w.close()
}

func redact(ev Event) Event {
	if len(ev.Rows) > 0 {
		rows := make([]activity.Session, len(ev.Rows))
		copy(rows, ev.Rows)
		for i := range rows {
			if rows[i].Query != "" {
				rows[i].Query = RedactedQuery
			}
		}
		ev.Rows = rows
	}
	if len(ev.Excluded) > 0 {
		ex := make([]Excluded, len(ev.Excluded))
		copy(ex, ev.Excluded)
		for i := range ex {
			if ex[i].Session.Query != "" {
				ex[i].Session.Query = RedactedQuery
			}
		}
		ev.Excluded = ex
	}
	if ev.Groups != nil {
		ev.Groups = ev.Groups.redacted()
	}
	return ev
}

// Redacted returns ev as a transcript written with RedactQueries records
// it: query text replaced by "<redacted>".
func Redacted(ev Event) Event { return redact(ev) }
