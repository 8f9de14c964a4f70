package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/AlecAivazis/survey/v2"
	"github.com/AlecAivazis/survey/v2/terminal"

	"github.com/pgrunbook/pgrunbook/engine"
	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/render"
)

// Terminal asks on a terminal. In and Out must be the terminal's files
// (survey puts the terminal in raw mode to read keys). When In supports
// read deadlines (a terminal opened with os.OpenFile is pollable), a
// cancelled context wakes a waiting prompt, so SIGTERM or SIGHUP ends the
// run cleanly even while it waits for an answer. A terminal that hung up
// ends the prompt with engine.ErrHangup.
type Terminal struct {
	In  terminal.FileReader
	Out terminal.FileWriter
	Err io.Writer
	// Width is the terminal's width, used to fit session lines.
	Width int
	// Color marks a terminate in red (see render.ColorFor).
	Color bool
}

// Labels of the choices, in the order offered.
const (
	labelAll     = "Act on all of them"
	labelSubset  = "Choose a subset"
	labelRefresh = "Refresh the table (read the sessions again)"
	labelSkip    = "Skip this step (act on none)"
	labelAbort   = "Abort the run"
)

// Choose asks what to do with the sessions of q.
func (t *Terminal) Choose(ctx context.Context, q engine.Question) (engine.Answer, error) {
	if err := ctx.Err(); err != nil {
		return engine.Answer{}, err
	}
	options := []string{labelAll, labelSubset, labelRefresh, labelSkip, labelAbort}
	if len(q.Rows) > q.Limit {
		options = options[1:]
	}
	message := q.Text
	if !q.Taken.IsZero() {
		message += fmt.Sprintf(" [table read at %s]", q.Taken.Local().Format("15:04:05"))
	}
	if q.Action == activity.Terminate {
		message = render.Risk(t.Color, message)
	}
	// Which server the answer acts on, right above the question: a
	// command meant for a standby run on the primary is how outages begin.
	if q.Server != nil {
		line := "acting on " + render.ServerLine(*q.Server)
		if q.Server.IsStandby {
			line = render.Caution(t.Color, line)
		}
		fmt.Fprintf(t.Out, "  %s\n", line)
	}
	var choice string
	err := t.ask(ctx, &survey.Select{
		Message: message,
		Options: options,
		Help:    "Cancel stops only the running statement; terminate ends the whole session. Refresh reads the sessions again. Skip leaves these sessions alone and goes on; abort stops the run here.",
	}, &choice)
	if err != nil {
		return engine.Answer{}, err
	}
	switch choice {
	case labelAll:
		return t.typedCount(ctx, q, engine.Answer{Choice: engine.ChooseAll}, len(q.Rows))
	case labelRefresh:
		return engine.Answer{Choice: engine.ChooseRefresh}, nil
	case labelSkip:
		return engine.Answer{Choice: engine.ChooseSkip}, nil
	case labelAbort:
		return engine.Answer{Choice: engine.ChooseAbort}, nil
	}
	labels := make([]string, len(q.Rows))
	for i := range q.Rows {
		s := &q.Rows[i]
		line := fmt.Sprintf("%-7d %s %s %s %11s  %s", s.PID, render.Fit(s.Usename, 12), render.Fit(s.ApplicationName, 16),
			render.Fit(s.State, 20), render.RuntimeCell(s), render.OneLineQuery(s.Query))
		labels[i] = render.Cut(line, max(t.Width-8, 40))
	}
	var picked []string
	err = t.ask(ctx, &survey.MultiSelect{
		Message:  fmt.Sprintf("Choose the sessions to %s (space to select, enter to confirm; at most %d):", q.Action.Verb(), q.Limit),
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
	return t.typedCount(ctx, q, ans, len(ans.PIDs))
}

// typedCount asks the operator to type the number of sessions when the
// action is risky (engine.NeedsTypedCount); a wrong number asks again.
func (t *Terminal) typedCount(ctx context.Context, q engine.Question, ans engine.Answer, n int) (engine.Answer, error) {
	if !engine.NeedsTypedCount(q.Action, n) {
		return ans, nil
	}
	verb := "cancel the statements of"
	if q.Action == activity.Terminate {
		verb = "terminate"
	}
	noun := "sessions"
	if n == 1 {
		noun = "session"
	}
	var typed string
	err := t.ask(ctx, &survey.Input{
		Message: fmt.Sprintf("Type %d to %s %d %s:", n, verb, n, noun),
		Help:    "Typing the number makes sure a slip of a key cannot end sessions. Ctrl-C stops the run.",
	}, &typed, survey.WithValidator(func(v any) error {
		if strings.TrimSpace(fmt.Sprint(v)) != strconv.Itoa(n) {
			return fmt.Errorf("type %d, the number of sessions, to go on", n)
		}
		return nil
	}))
	if err != nil {
		return engine.Answer{}, err
	}
	ans.TypedCount = n
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
	case errors.Is(err, engine.ErrHangup) || errors.Is(context.Cause(ctx), engine.ErrHangup) || terminalGone(err):
		return engine.ErrHangup
	case errors.Is(err, terminal.InterruptErr) || ctx.Err() != nil:
		return engine.ErrInterrupted
	}
	return err
}

// terminalGone reports whether a read failed because the terminal hung
// up: the kernel answers reads from a hung-up terminal with EIO (or end
// of file), possibly before SIGHUP has reached the run's context.
func terminalGone(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
