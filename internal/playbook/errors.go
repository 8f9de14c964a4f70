package playbook

import (
	"github.com/pgrunbook/pgrunbook/internal/position"
)

// errorCollector gathers problems while a playbook is decoded and checked.
// Each is a *position.Error with its snippet; the loader returns them as
// a position.List in source order.
type errorCollector struct {
	src  *position.Source
	errs position.List
}

func (c *errorCollector) add(line, col int, format string, args ...any) {
	c.errs = append(c.errs, c.src.Errorf(line, col, format, args...))
}

func (c *errorCollector) at(p Pos, format string, args ...any) {
	c.add(p.Line, p.Column, format, args...)
}

func (c *errorCollector) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	c.errs.Sort()
	return c.errs
}
