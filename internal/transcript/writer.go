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

// SyncDelay is how long an event that is not synced at once (see Writer)
// may wait for its sync.
const SyncDelay = 100 * time.Millisecond

// Writer appends events to a transcript. Every event is written in one
// write call, so what Write accepted survives a crash of pgrunbook at
// once. For a file, the events that record a signal and the run's end
// (intent, the outcomes of a signal, run_finished, run_resumed) are
// synced before Write returns, and with them everything written before:
// the intent is on disk before the signal is sent. Other events (the
// run's start, snapshots, selections, notes, verifies) are synced with
// the next of those or at most SyncDelay after they were written,
// whichever comes first, so a crash of the machine loses no more than the
// last SyncDelay of observations, and never a record of something done.
// A dry run's intents and would-be outcomes signal nothing and wait like
// observations. Each event carries the hash of the line before it
// (Event.Prev).
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	sync   func() error // nil when the destination needs no sync
	close  func() error // nil when there is nothing to close
	closed bool
	path   string
	// dirty says something was written and not yet synced; timer syncs
	// it SyncDelay later; syncErr is a deferred sync's failure, returned
	// by the next Write or Close.
	dirty   bool
	timer   *time.Timer
	syncErr error
	// dryRun is set from the run_started event: the run signals nothing.
	dryRun bool
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
// (UTC) and the hash of the previous line, and appends it as one line,
// synced as the Writer's doc says. It returns the event as written.
func (w *Writer) Write(ev Event) (Event, error) {
	out, err := w.WriteBatch([]Event{ev})
	if err != nil {
		return ev, err
	}
	return out[0], nil
}

// WriteBatch writes several events as Write would, in order, with one
// write call and at most one sync for all of them: the cost of recording
// the N outcomes of one signalling statement is one fsync, not N. It
// returns the events as written.
func (w *Writer) WriteBatch(evs []Event) ([]Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return evs, fmt.Errorf("transcript %s is closed", w.name())
	}
	out := make([]Event, len(evs))
	buf := lineBuffers.Get().(*bytes.Buffer)
	defer putLineBuffer(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
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
		if err := encodeEvent(buf, enc, rec); err != nil {
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
	if w.sync == nil {
		return out, nil
	}
	w.dirty = true
	now := false
	for _, ev := range evs {
		if ev.Type == RunStarted {
			w.dryRun = ev.Mode == ModeDryRun
		}
		now = now || w.syncsAtOnce(ev)
	}
	if now {
		if err := w.syncLocked(); err != nil {
			return out, err
		}
	} else if w.timer == nil {
		w.timer = time.AfterFunc(SyncDelay, w.deferredSync)
	}
	if err := w.syncErr; err != nil {
		w.syncErr = nil
		return out, err
	}
	return out, nil
}

// syncsAtOnce says whether ev must be on disk before Write returns: it
// records a signal about to be sent or sent, or the run's end or resumption.
func (w *Writer) syncsAtOnce(ev Event) bool {
	switch ev.Type {
	case RunFinished, RunResumed:
		return true
	case Intent, Action:
		return !w.dryRun
	}
	return false
}

// syncLocked syncs what was written, if anything; w.mu is held.
func (w *Writer) syncLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if !w.dirty {
		return nil
	}
	w.dirty = false
	if err := w.sync(); err != nil {
		return fmt.Errorf("syncing transcript %s: %w", w.name(), err)
	}
	return nil
}

// deferredSync is the timer's sync of events that did not sync at once.
func (w *Writer) deferredSync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.closed {
		return
	}
	if err := w.syncLocked(); err != nil && w.syncErr == nil {
		w.syncErr = err
	}
}

// Close syncs what is not yet synced and closes the file. It is safe to
// call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.sync != nil {
		err = w.syncLocked()
	}
	if err == nil {
		err, w.syncErr = w.syncErr, nil
	}
	if w.close != nil {
		if cerr := w.close(); err == nil {
			err = cerr
		}
	}
	return err
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

// lineBuffers hold encoded lines between writes, so that a snapshot of
// thousands of sessions, recorded again every round of a watch, reuses
// the memory of the last one instead of touching fresh pages.
var lineBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledLineBuffer is the largest buffer kept for reuse.
const maxPooledLineBuffer = 4 << 20

func putLineBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledLineBuffer {
		lineBuffers.Put(b)
	}
}
