package transcript

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ReadResult is what Read recovered from a transcript.
type ReadResult struct {
	Events []Event
	// Truncated is true when the file ends in the middle of a line (the
	// run was killed while writing); the partial line is ignored.
	Truncated bool
	// TruncatedLine is the 1-based line number of the partial line.
	TruncatedLine int
}

// ReadFile reads the transcript at path, as Read does. The result is
// never nil, also when the file cannot be opened.
func ReadFile(path string) (*ReadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return &ReadResult{}, err
	}
	defer f.Close()
	return Read(f)
}

// LineError is a transcript line that is not a valid event.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Read parses a transcript. A final line without its newline that does not
// parse is reported as truncation, not as an error: that is what a run
// killed mid-write leaves. Any other bad line is a *LineError.
func Read(r io.Reader) (*ReadResult, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	res := &ReadResult{}
	for line := 1; ; line++ {
		data, err := br.ReadBytes('\n')
		complete := err == nil
		if err != nil && err != io.EOF {
			return res, err
		}
		if len(bytes.TrimSpace(data)) > 0 {
			var ev Event
			if jerr := json.Unmarshal(data, &ev); jerr != nil || ev.Type == "" {
				if !complete {
					res.Truncated, res.TruncatedLine = true, line
					return res, nil
				}
				if jerr == nil {
					jerr = fmt.Errorf("event has no type")
				}
				return res, &LineError{Line: line, Err: jerr}
			}
			res.Events = append(res.Events, ev)
		}
		if !complete {
			return res, nil
		}
	}
}
