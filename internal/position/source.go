package position

import (
	"errors"
	"fmt"
	"strings"
)

// Source is a file's name and text, for placing problems in it.
type Source struct {
	File  string
	lines []string
}

// NewSource returns the source named file with text data.
func NewSource(file string, data []byte) *Source {
	return &Source{File: file, lines: strings.Split(string(data), "\n")}
}

// Errorf returns a problem at line and col of the source, with its
// snippet.
func (s *Source) Errorf(line, col int, format string, args ...any) *Error {
	return s.place(&Error{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// Locate places err in the source: an *Error inside err gets the file
// (when it has none) and its snippet, and is returned itself; any other
// error becomes a problem of the whole file with err's text.
func (s *Source) Locate(err error) *Error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{File: s.File, Message: err.Error()}
	}
	return s.place(e)
}

func (s *Source) place(e *Error) *Error {
	if e.File == "" {
		e.File = s.File
	}
	if e.File == s.File && e.Snippet == "" && e.Line >= 1 && e.Line <= len(s.lines) {
		e.Snippet = s.lines[e.Line-1]
	}
	return e
}

// Lines returns the source's lines, without their line ends.
func (s *Source) Lines() []string { return s.lines }
