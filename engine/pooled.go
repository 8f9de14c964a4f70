package engine

import (
	"fmt"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// advisePooled warns, before a terminate, whom ending a pooled backend
// hits: the pooler disconnects the client linked to it (in transaction
// pooling the one linked now, in session pooling that client's whole
// session), while a backend idle in the pool serves nobody, so ending it
// only makes the pooler open another.
func (r *runner) advisePooled(st *playbook.Step, action string, targets []activity.Session) error {
	if action != playbook.KindTerminate {
		return nil
	}
	var lines []string
	for i := range targets {
		if targets[i].ViaPooler {
			lines = append(lines, "  pid "+fmt.Sprint(targets[i].PID)+": "+pooledTerminateEffect(&targets[i]))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	w := r.stepEvent(st, transcript.Warning)
	w.Text = "terminating a pooled backend hits the pooler's client linked to it, not the backend alone:\n" + strings.Join(lines, "\n")
	return r.emit(w)
}

// pooledTerminateEffect says what terminating one pooled backend does.
func pooledTerminateEffect(s *activity.Session) string {
	client := func() string {
		c := fmt.Sprintf("%s:%d", s.PoolerClientAddr, s.PoolerClientPort)
		if s.PoolerClientApp != "" {
			c += " (" + s.PoolerClientApp + ")"
		}
		return c
	}
	switch {
	case s.PoolMode == "":
		return fmt.Sprintf("connects through a pooler (%s): whichever client the pooler has linked to it at that moment is disconnected, "+
			"which cannot be told without --pooler (the pooler's admin console); its application_name may be the previous client's", s.PoolerReason)
	case s.PoolerLinked() && s.PoolMode == "session":
		return fmt.Sprintf("serves client %s for that client's whole session (session pooling): the client loses its connection and everything it set up in it", client())
	case s.PoolerLinked():
		return fmt.Sprintf("the client linked to it now (%s pooling), %s, is disconnected by the pooler and its transaction rolled back; the pool's other clients are not touched", s.PoolMode, client())
	case strings.Contains(s.PoolerReason, "linked to no client"):
		return fmt.Sprintf("idle in the pool, serving no client (%s pooling): terminating it hits nobody and is pointless, the pooler just opens another server connection", s.PoolMode)
	}
	return fmt.Sprintf("%s: whichever client is linked to it at that moment is disconnected", s.PoolerReason)
}
