package transcript

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadResult is what Read recovered from a transcript: its events, how it
// ends, and whether its hash chain holds.
type ReadResult struct {
	Events []Event
	// Truncated is true when the file ends in the middle of a line (the
	// run was killed while writing); the partial line is ignored.
	Truncated bool
	// TruncatedLine is the 1-based line number of the partial line.
	TruncatedLine int
	// Head is the LineHash of the last complete event line. When the
	// chain holds, it protects every line but the last against an edit;
	// recording Head elsewhere (the incident ticket, the postmortem)
	// protects the last one too.
	Head string
	// Broken is where the hash chain first breaks; nil when it holds over
	// every event. The events are read on past the break: what they say
	// may not be what was recorded.
	Broken *ChainError
}

// ReadFile reads the transcript at path, as Read does, within the default
// Limits (raised by the environment, see Limits). The result is never
// nil, also when the file cannot be opened.
func ReadFile(path string) (*ReadResult, error) {
	res := &ReadResult{}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	lim := LimitsFromEnv()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > lim.File {
		return res, &LimitError{Name: path, Size: fi.Size(), Limit: lim.File}
	}
	err = scan(f, path, lim, func(ev Event) { res.Events = append(res.Events, ev) }, res)
	return res, err
}

// LineError is a transcript line that is not a valid event.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Read parses a transcript and checks its hash chain in the same pass,
// within the default Limits. A final line without its newline that does
// not parse is reported as truncation, not as an error: that is what a run
// killed mid-write leaves. Any other line that is not an event is a
// *LineError; a line or a transcript over its bound is a *LimitError. A
// broken chain is not an error: Read reports it in ReadResult.Broken and
// reads on.
func Read(r io.Reader) (*ReadResult, error) {
	res := &ReadResult{}
	err := scan(r, "", LimitsFromEnv(), func(ev Event) { res.Events = append(res.Events, ev) }, res)
	return res, err
}

// scan is the one transcript line scanner. It reads r line by line within
// lim, parses each line into an event, hands it to keep (nil keeps
// nothing) and checks the hash chain as it goes: the first event has no
// prev, every later event's prev is the LineHash of the line before it,
// and seq counts up from 1 with no gap. It fills res with how the
// transcript ends and where the chain first breaks; name is the
// transcript's path for a LimitError ("" when unknown).
func scan(r io.Reader, name string, lim Limits, keep func(Event), res *ReadResult) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var total int64
	prev := ""
	brk := func(line int, reason string) {
		if res.Broken == nil {
			res.Broken = &ChainError{Line: line, Reason: reason}
		}
	}
	for line := 1; ; line++ {
		data, n, complete, cut, err := readLine(br, lim.Line)
		total += int64(n)
		switch {
		case errors.Is(err, errLineTooLong):
			return &LimitError{Name: name, Line: line, Limit: int64(lim.Line)}
		case err != nil:
			return err
		case total > lim.File:
			return &LimitError{Name: name, Size: total, Limit: lim.File}
		}
		if !complete && len(data) == 0 {
			return nil
		}
		if cut {
			// Not an event, and not kept whole: see readLine.
			if !complete {
				res.Truncated, res.TruncatedLine = true, line
				return nil
			}
			return &LineError{Line: line, Err: fmt.Errorf("not a JSON object: the line starts with %q", firstBytes(data))}
		}
		body := bytes.TrimSuffix(data, []byte("\n"))
		if complete && len(bytes.TrimSpace(body)) == 0 {
			brk(line, "an empty line: lines were inserted or removed")
			continue
		}
		var ev Event
		if jerr := json.Unmarshal(body, &ev); jerr != nil || ev.Type == "" {
			if !complete {
				res.Truncated, res.TruncatedLine = true, line
				return nil
			}
			if jerr == nil {
				jerr = fmt.Errorf("event has no type")
			}
			return &LineError{Line: line, Err: jerr}
		}
		switch {
		case line == 1 && ev.Prev != "":
			brk(line, "the first event has a prev hash: lines were removed from the start")
		case line > 1 && ev.Prev == "":
			brk(line, fmt.Sprintf("no prev hash: line %d was changed, or the transcript was written without a hash chain (by an older pgrunbook)", line))
		case ev.Prev != prev:
			brk(line, fmt.Sprintf("prev is not the hash of line %d: line %d or this line was changed after they were written, or lines were inserted or removed", line-1, line-1))
		case ev.Seq != int64(line):
			brk(line, fmt.Sprintf("seq is %d, want %d: lines were inserted or removed", ev.Seq, line))
		}
		prev = LineHash(body)
		res.Head = prev
		if keep != nil {
			keep(ev)
		}
		if !complete {
			// A last line without its newline that parses: complete
			// as an event, but the write of its newline was cut off.
			return nil
		}
	}
}

// firstBytes is the start of a line that is not an event, for a message.
func firstBytes(data []byte) string {
	t := bytes.TrimLeft(data, " \t\r\n")
	return string(t[:min(len(t), 16)])
}

// errLineTooLong is readLine's error for a line over its bound.
var errLineTooLong = errors.New("line too long")

// readLine reads one line, its newline included, of at most max bytes
// (without the newline). complete is false at the end of the input, where
// the line is what is left (nothing, or a last line without its newline);
// n is the line's length in bytes. A longer line is errLineTooLong after
// reading no more than max bytes of it. A line whose first byte other than
// a space is not '{' cannot be an event: once it outgrows the reader's
// buffer, the rest of it is read past and not kept (cut is set, data
// holds its start), so a large file that is not a transcript costs no
// more memory than the buffer.
func readLine(br *bufio.Reader, max int) (data []byte, n int, complete, cut bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		n += len(frag)
		if n > max+1 || (n > max && err != nil) {
			return nil, n, false, false, errLineTooLong
		}
		switch {
		case err == nil:
			if data == nil {
				// The common case: the line fits the buffer. ReadSlice's
				// bytes are overwritten by the next read; copy them.
				return bytes.Clone(frag), n, true, false, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
		default:
			return nil, n, false, false, err
		}
		if !cut {
			data = append(data, frag...)
			if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] != '{' && err != nil {
				cut = true
			}
		}
		if err == nil || err == io.EOF {
			return data, n, err == nil, cut, nil
		}
	}
}
