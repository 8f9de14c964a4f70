package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// DefaultNotifyTimeout bounds each --notify command.
const DefaultNotifyTimeout = 5 * time.Second

// notifier runs the --notify command once per intent, action and
// run_finished event, with the event as one JSON line on its standard
// input. The commands run one at a time, in the order of the events, on a
// goroutine of their own: the run never waits for them. A command that
// fails, or is still running after its timeout (then it is killed, with
// the processes it started), is reported through warn.
type notifier struct {
	command string
	timeout time.Duration
	// warn records a problem with a notification; it may be called from
	// the notifier's goroutine at any time until close returns.
	warn func(msg string)

	mu      sync.Mutex
	queue   [][]byte
	closed  bool
	wake    chan struct{}
	stopped chan struct{}
	// abandon ends the command running now and drops the queue.
	abandon context.CancelFunc
	ctx     context.Context
}

// notifyTypes are the event types sent to --notify.
var notifyTypes = map[string]bool{transcript.Intent: true, transcript.Action: true, transcript.RunFinished: true}

// newNotifier starts the goroutine that runs command.
func newNotifier(command string, timeout time.Duration, warn func(string)) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{command: command, timeout: timeout, warn: warn,
		wake: make(chan struct{}, 1), stopped: make(chan struct{}), ctx: ctx, abandon: cancel}
	go n.loop()
	return n
}

// event queues ev for the command if it is of a type that is sent. It
// never blocks.
func (n *notifier) event(ev transcript.Event) {
	if !notifyTypes[ev.Type] {
		return
	}
	line, err := json.Marshal(ev)
	if err != nil {
		n.warn(fmt.Sprintf("--notify: event %d could not be encoded: %v", ev.Seq, err))
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.queue = append(n.queue, append(line, '\n'))
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// close waits for the queued notifications, at most for within, then
// kills what still runs and reports what was never sent.
func (n *notifier) close(within time.Duration) {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
	select {
	case <-n.stopped:
		return
	case <-time.After(within):
	}
	n.abandon()
	<-n.stopped
}

func (n *notifier) loop() {
	defer close(n.stopped)
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			closed := n.closed
			n.mu.Unlock()
			if closed {
				return
			}
			<-n.wake
			continue
		}
		line := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		if n.ctx.Err() != nil {
			n.mu.Lock()
			dropped := len(n.queue) + 1
			n.queue = nil
			n.mu.Unlock()
			n.warn(fmt.Sprintf("--notify: %d notification(s) not sent: pgrunbook was exiting", dropped))
			return
		}
		if err := n.run(line); err != nil {
			n.warn(fmt.Sprintf("--notify: %v (event %s)", err, eventName(line)))
		}
	}
}

// run runs the command once with line on its standard input.
func (n *notifier) run(line []byte) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", n.command)
	cmd.Stdin = bytes.NewReader(line)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	startOwnGroup(cmd)
	// Output the command's children keep open must not hold us up.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("the command was still running after %s and was killed", n.timeout)
	case n.ctx.Err() != nil:
		return fmt.Errorf("the command was killed: pgrunbook was exiting")
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg != "" {
			return fmt.Errorf("the command failed (%v): %s", err, msg)
		}
		return fmt.Errorf("the command failed (%v)", err)
	}
	return nil
}

// eventName names an encoded event in a warning: "action seq 12".
func eventName(line []byte) string {
	var ev struct {
		Seq  int64  `json:"seq"`
		Type string `json:"type"`
	}
	_ = json.Unmarshal(line, &ev)
	return fmt.Sprintf("%s, seq %d", ev.Type, ev.Seq)
}
