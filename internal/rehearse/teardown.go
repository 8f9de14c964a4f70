package rehearse

import (
	"errors"
	"fmt"
	"io"
)

// teardown is a stack of release functions, run newest first. Each
// returns a line saying what it did.
type teardown struct {
	steps []func() (string, error)
}

// push adds a release function; one that returns "" and no error is
// not reported.
func (t *teardown) push(fn func() (string, error)) { t.steps = append(t.steps, fn) }

// run releases everything, newest first, reporting each step to out, and
// returns every error joined. A failed step does not stop the others.
func (t *teardown) run(out io.Writer) error {
	said := false
	say := func(format string, args ...any) {
		if !said {
			heading(out, "Teardown")
			said = true
		}
		fmt.Fprintf(out, format, args...)
	}
	var errs []error
	for i := len(t.steps) - 1; i >= 0; i-- {
		msg, err := t.steps[i]()
		switch {
		case err != nil:
			say("  ! %v\n", err)
			errs = append(errs, err)
		case msg != "":
			say("  %s\n", msg)
		}
	}
	t.steps = nil
	return errors.Join(errs...)
}
