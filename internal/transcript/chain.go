package transcript

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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

// VerifyChain checks a transcript's hash chain with the reader's scanner
// (see Read), keeping no event: the first event has no prev, every later
// event's prev is the LineHash of the line before it, and seq counts up
// from 1 with no gap. Any edit to a line but the last (a changed byte, an
// inserted, removed or reordered line) breaks the chain at or right after
// that line; the error, a *ChainError, names the first line where it
// breaks. A line that is not an event breaks the chain there too. A final
// line cut off mid-write is not an error: it is reported in the result,
// as Read does. A line or a transcript over its bound is a *LimitError.
func VerifyChain(r io.Reader) (*ChainResult, error) {
	return verifyChain(r, "", LimitsFromEnv())
}

// VerifyFile checks the hash chain of the transcript at path, as
// VerifyChain does, within the default Limits (raised by the
// environment); a LimitError names path.
func VerifyFile(path string) (*ChainResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return &ChainResult{}, err
	}
	defer f.Close()
	lim := LimitsFromEnv()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > lim.File {
		return &ChainResult{}, &LimitError{Name: path, Size: fi.Size(), Limit: lim.File}
	}
	return verifyChain(f, path, lim)
}

func verifyChain(r io.Reader, name string, lim Limits) (*ChainResult, error) {
	var rr ReadResult
	res := &ChainResult{}
	err := scan(r, name, lim, func(Event) { res.Events++ }, &rr)
	if err := chainError(&rr, err); err != nil {
		return res, err
	}
	res.Head, res.Truncated, res.TruncatedLine = rr.Head, rr.Truncated, rr.TruncatedLine
	return res, nil
}

// chainError is what a scan that ended with err and filled rr says of the
// chain: the first break, a line that is not an event as a break there,
// or err itself; nil when the chain holds.
func chainError(rr *ReadResult, err error) error {
	var le *LineError
	switch {
	case errors.As(err, &le):
		if rr.Broken == nil || rr.Broken.Line > le.Line {
			return &ChainError{Line: le.Line, Reason: "not a transcript event (the line was changed or damaged)"}
		}
		return rr.Broken
	case err != nil:
		return err
	case rr.Broken != nil:
		return rr.Broken
	}
	return nil
}
