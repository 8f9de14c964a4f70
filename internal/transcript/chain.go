package transcript

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// LineHash is the link of the hash chain: the hex SHA-256 of one
// transcript line's bytes, without its newline. The next event records it
// as its Prev.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// ChainResult describes a transcript whose hash chain is intact.
type ChainResult struct {
	// Events is the number of events checked.
	Events int
	// Head is the LineHash of the last complete line. The chain protects
	// every line but the last against an edit; recording Head elsewhere
	// (the incident ticket, the postmortem) protects the last one too.
	Head string
	// Truncated is true when the file ends in the middle of a line, as a
	// run killed while writing leaves it; TruncatedLine is its number.
	Truncated     bool
	TruncatedLine int
}

// ChainError is where a transcript's hash chain breaks.
type ChainError struct {
	// Line is the first line (1-based) at which the chain does not hold.
	Line int
	// Reason says what does not hold there.
	Reason string
}

func (e *ChainError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// VerifyChain checks a transcript's hash chain: the first event has no
// prev, every later event's prev is the LineHash of the line before it,
// and seq counts up from 1 with no gap. Any edit to a line but the last
// (a changed byte, an inserted, removed or reordered line) breaks the
// chain at or right after that line; the error names the first line
// where it breaks. A final line cut off mid-write is not an error: it is
// reported in the result, as Read does.
func VerifyChain(r io.Reader) (*ChainResult, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	res := &ChainResult{}
	prev := ""
	for line := 1; ; line++ {
		data, err := br.ReadBytes('\n')
		complete := err == nil
		if err != nil && err != io.EOF {
			return res, err
		}
		if !complete && len(data) == 0 {
			return res, nil
		}
		body := bytes.TrimSuffix(data, []byte("\n"))
		var ev Event
		if jerr := json.Unmarshal(body, &ev); jerr != nil || ev.Type == "" {
			if !complete {
				res.Truncated, res.TruncatedLine = true, line
				return res, nil
			}
			if len(bytes.TrimSpace(body)) == 0 {
				return res, &ChainError{Line: line, Reason: "an empty line: lines were inserted or removed"}
			}
			return res, &ChainError{Line: line, Reason: "not a transcript event (the line was changed or damaged)"}
		}
		got := ev.Prev
		switch {
		case line == 1 && got != "":
			return res, &ChainError{Line: line, Reason: "the first event has a prev hash: lines were removed from the start"}
		case line > 1 && got == "":
			return res, &ChainError{Line: line, Reason: fmt.Sprintf("no prev hash: line %d was changed, or the transcript was written without a hash chain (by an older pgrunbook)", line)}
		case got != prev:
			return res, &ChainError{Line: line, Reason: fmt.Sprintf("prev is not the hash of line %d: line %d or this line was changed after they were written, or lines were inserted or removed", line-1, line-1)}
		case ev.Seq != int64(line):
			return res, &ChainError{Line: line, Reason: fmt.Sprintf("seq is %d, want %d: lines were inserted or removed", ev.Seq, line)}
		}
		prev = LineHash(body)
		res.Events++
		res.Head = prev
		if !complete {
			// A last line without its newline that parses: complete
			// as an event, but the write of its newline was cut off.
			return res, nil
		}
	}
}
