package position

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorLeavesOutWhatIsNotKnown(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Column: 7, Message: "m"}, "a.yaml:3:7: m"},
		{Error{File: "a.yaml", Line: 3, Message: "m"}, "a.yaml:3: m"},
		{Error{File: "a.yaml", Message: "m"}, "a.yaml: m"},
		{Error{Line: 2, Column: 5, Message: "m"}, "2:5: m"},
		{Error{Message: "m"}, "m"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

func TestDetailedPutsACaretUnderTheColumn(t *testing.T) {
	e := &Error{File: "f", Line: 1, Column: 4, Message: "m", Snippet: "\tab cd"}
	if got, want := e.Detailed(), "f:1:4: m\n     ab cd\n       ^"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e.Column = 40 // past the end of the line: the caret stops at its end
	if got, want := e.Detailed(), "f:1:40: m\n     ab cd\n          ^"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e.Column = 0 // no column: no caret
	if got, want := e.Detailed(), "f:1: m"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestListSortsByFileLineColumnAndKeepsTies(t *testing.T) {
	l := List{
		{File: "b", Line: 1, Column: 1, Message: "b1"},
		{File: "a", Line: 2, Column: 1, Message: "a2"},
		{File: "a", Line: 1, Column: 9, Message: "a1-9"},
		{File: "a", Line: 1, Column: 1, Message: "first"},
		{File: "a", Line: 1, Column: 1, Message: "second"},
	}
	l.Sort()
	want := "a:1:1: first\na:1:1: second\na:1:9: a1-9\na:2:1: a2\nb:1:1: b1"
	if got := l.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSourcePlacesProblems(t *testing.T) {
	src := NewSource("p.yaml", []byte("one\ntwo\nthree"))
	if e := src.Errorf(2, 1, "bad %s", "two"); e.Snippet != "two" || e.Error() != "p.yaml:2:1: bad two" {
		t.Errorf("Errorf: %+v", e)
	}
	if e := src.Errorf(9, 1, "past the end"); e.Snippet != "" {
		t.Errorf("a line past the end has snippet %q", e.Snippet)
	}
	// A problem found without its file (as strictyaml finds them), wrapped.
	inner := &Error{Line: 3, Column: 2, Message: "m"}
	got := src.Locate(fmt.Errorf("decoding: %w", inner))
	if got != inner || got.File != "p.yaml" || got.Snippet != "three" {
		t.Errorf("Locate: %+v", got)
	}
	// A problem of another file keeps its file and gets no snippet of ours.
	other := &Error{File: "other.yaml", Line: 1, Column: 1, Message: "m"}
	if got := src.Locate(other); got.File != "other.yaml" || got.Snippet != "" {
		t.Errorf("Locate of another file's problem: %+v", got)
	}
	// Any other error is a problem of the whole file.
	if got := src.Locate(errors.New("plain")); got.Error() != "p.yaml: plain" || got.Line != 0 {
		t.Errorf("Locate of a plain error: %+v", got)
	}
}
