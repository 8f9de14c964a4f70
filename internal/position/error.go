package position

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a source file, at a line and column when known.
type Error struct {
	// File names the source: a path, or a name such as builtin:NAME.
	// Empty while the problem is not yet placed in a file (strictyaml
	// decodes nodes without knowing their file); see Source.Locate.
	File string `json:"file"`
	// Line is 1-based; 0 when the problem has no position in the file.
	Line int `json:"line"`
	// Column is 1-based; 0 when only the line is known.
	Column  int    `json:"column"`
	Message string `json:"message"`
	// Snippet is the source line the problem is on, for display.
	Snippet string `json:"-"`
}

// Error formats the problem as file:line:col: message, leaving out what
// is not known (file:line: message, file: message).
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
		}
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Detailed formats the problem followed by its source line and a caret
// under the column, the way a compiler shows it.
func (e *Error) Detailed() string {
	s := e.Error()
	if e.Snippet == "" || e.Column < 1 {
		return s
	}
	line := strings.ReplaceAll(e.Snippet, "\t", " ")
	pad := min(e.Column-1, len(line))
	return fmt.Sprintf("%s\n    %s\n    %s^", s, line, strings.Repeat(" ", pad))
}

// List is every problem found in one or more files, in file and source
// order once sorted. It is the error the playbook loader returns for an
// invalid playbook.
type List []*Error

// Error joins the problems one per line.
func (l List) Error() string { return l.join((*Error).Error) }

// Detailed joins the problems with their source lines.
func (l List) Detailed() string { return l.join((*Error).Detailed) }

func (l List) join(format func(*Error) string) string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = format(e)
	}
	return strings.Join(parts, "\n")
}

// Sort orders the problems by file, line and column, keeping the order of
// problems at the same place.
func (l List) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
