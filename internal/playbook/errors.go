package playbook

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a playbook, located in its source.
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line"`   // 1-based; 0 when the problem has no position
	Column  int    `json:"column"` // 1-based
	Message string `json:"message"`
	// Snippet is the source line the problem is on, for display.
	Snippet string `json:"-"`
}

// Error formats the problem as file:line:col: message.
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Message)
}

// Detailed formats the problem followed by its source line and a caret
// under the column, the way a compiler shows it.
func (e *Error) Detailed() string {
	s := e.Error()
	if e.Snippet == "" || e.Column < 1 {
		return s
	}
	line := strings.ReplaceAll(e.Snippet, "\t", " ")
	pad := e.Column - 1
	if pad > len(line) {
		pad = len(line)
	}
	return fmt.Sprintf("%s\n    %s\n    %s^", s, line, strings.Repeat(" ", pad))
}

// ErrorList is every problem found in one or more playbooks, in file and
// source order. It is the error Load returns when a playbook is invalid.
type ErrorList []*Error

// Error joins the problems one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Detailed joins the problems with their source lines.
func (l ErrorList) Detailed() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Detailed()
	}
	return strings.Join(parts, "\n")
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return l[i].File < l[j].File
		}
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Column < l[j].Column
	})
}

// errorCollector gathers problems while a playbook is decoded and checked.
type errorCollector struct {
	file  string
	lines []string
	errs  ErrorList
}

func (c *errorCollector) add(line, col int, format string, args ...any) {
	e := &Error{File: c.file, Line: line, Column: col, Message: fmt.Sprintf(format, args...)}
	if line >= 1 && line <= len(c.lines) {
		e.Snippet = c.lines[line-1]
	}
	c.errs = append(c.errs, e)
}

func (c *errorCollector) at(p Pos, format string, args ...any) {
	c.add(p.Line, p.Column, format, args...)
}

func (c *errorCollector) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	c.errs.sort()
	return c.errs
}
