package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/render"
)

// Terminal asks on a terminal. In and Out must be the terminal's files
// (survey puts the terminal in raw mode to read keys). When In supports
// read deadlines (a terminal opened with os.OpenFile is pollable), a
// cancelled context wakes a waiting prompt, so SIGTERM ends the run
// cleanly even while it waits for an answer.
type Terminal struct {
	In  terminal.FileReader
	Out terminal.FileWriter
	Err io.Writer
	// Width is the terminal's width, used to fit session lines.
	Width int
}

// Labels of the choices, in the order offered.
const (
	labelAll    = "Act on all of them"
	labelSubset = "Choose a subset"
	labelSkip   = "Skip this step (act on none)"
	labelAbort  = "Abort the run"
)

// Choose asks what to do with the sessions of q.
func (t *Terminal) Choose(ctx context.Context, q engine.Question) (engine.Answer, error) {
	if err := ctx.Err(); err != nil {
		return engine.Answer{}, err
	}
	options := []string{labelAll, labelSubset, labelSkip, labelAbort}
	if len(q.Rows) > q.Limit {
		options = options[1:]
	}
	var choice string
	err := t.ask(ctx, &survey.Select{
		Message: q.Text,
		Options: options,
		Help:    "Cancel stops only the running statement; terminate ends the whole session. Skip leaves these sessions alone and goes on; abort stops the run here.",
	}, &choice)
	if err != nil {
		return engine.Answer{}, err
	}
	switch choice {
	case labelAll:
		return engine.Answer{Choice: engine.ChooseAll}, nil
	case labelSkip:
		return engine.Answer{Choice: engine.ChooseSkip}, nil
	case labelAbort:
		return engine.Answer{Choice: engine.ChooseAbort}, nil
	}
	labels := make([]string, len(q.Rows))
	for i := range q.Rows {
		s := &q.Rows[i]
		line := fmt.Sprintf("%-7d %-12s %-16s %-20s %7s  %s", s.PID, render.Cut(s.Usename, 12), render.Cut(s.ApplicationName, 16),
			render.Cut(s.State, 20), render.Duration(render.Runtime(s)), render.OneLineQuery(s.Query))
		labels[i] = render.Cut(line, max(t.Width-8, 40))
	}
	var picked []string
	err = t.ask(ctx, &survey.MultiSelect{
		Message:  fmt.Sprintf("Choose the sessions to %s (space to select, enter to confirm; at most %d):", q.Action, q.Limit),
		Options:  labels,
		PageSize: 15,
	}, &picked, survey.WithValidator(survey.MinItems(1)), survey.WithValidator(survey.MaxItems(q.Limit)))
	if err != nil {
		return engine.Answer{}, err
	}
	ans := engine.Answer{Choice: engine.ChooseSubset}
	for _, p := range picked {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		ans.PIDs = append(ans.PIDs, pid)
	}
	return ans, nil
}

func (t *Terminal) opts() []survey.AskOpt {
	if t.In == nil || t.Out == nil {
		return nil
	}
	errOut := t.Err
	if errOut == nil {
		errOut = t.Out
	}
	return []survey.AskOpt{survey.WithStdio(t.In, t.Out, errOut)}
}

// deadliner is a reader whose blocking reads can be woken.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// ask runs one survey prompt. Ctrl-C at the prompt, or the run's context
// ending while the prompt waits, is engine.ErrInterrupted; survey restores
// the terminal's mode either way.
func (t *Terminal) ask(ctx context.Context, p survey.Prompt, answer any, opts ...survey.AskOpt) error {
	if d, ok := t.In.(deadliner); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer func() {
			if stop() {
				return
			}
			_ = d.SetReadDeadline(time.Time{})
		}()
	}
	err := survey.AskOne(p, answer, append(t.opts(), opts...)...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, terminal.InterruptErr) || ctx.Err() != nil:
		return engine.ErrInterrupted
	}
	return err
}
