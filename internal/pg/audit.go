package pg

import (
	"fmt"
	"strconv"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Audit names a run in the line each signal leaves in the PostgreSQL
// server log (safety rule 9), where DBAs look.
type Audit struct {
	// Run names the run: its transcript's path.
	Run string
	// Operator says who runs it.
	Operator string
	// Playbook is the playbook's name.
	Playbook string
}

// auditState is a Client's audit configuration and the last problem
// writing an audit line.
type auditState struct {
	header  string
	problem string
}

// SetAudit sets what the server log line of every later signal says
// about the run. Without it the line still names the function and the
// target.
func (c *Client) SetAudit(a Audit) {
	c.audit.header = fmt.Sprintf("run=%s operator=%s playbook=%s",
		strconv.Quote(a.Run), strconv.Quote(a.Operator), strconv.Quote(a.Playbook))
}

// TakeAuditProblem returns, once, why the server log line of the last
// signals could not be written ("" when it was). The signals' outcomes
// stand either way.
func (c *Client) TakeAuditProblem() string {
	p := c.audit.problem
	c.audit.problem = ""
	return p
}

// auditedSQL wraps a signalling statement (signalSQL with its function):
// the rows are the same, and the statement also keeps, in the session
// setting pgrunbook.audit, a JSON array with one line per target it
// signalled, naming the function, the target's pid and backend_start,
// and ($7) the run, the operator and the playbook ($8 is the function). Every value reaches
// the line as a parameter or a catalog value, never as SQL text.
// set_config is allowed in a read-only transaction.
func auditedSQL(signalling string) string {
	return `WITH r(pid, outcome) AS MATERIALIZED (
` + signalling + `
), u AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[]) AS u(pid, backend_start)
), l AS (
    SELECT set_config('pgrunbook.audit', coalesce(json_agg(
        format('pgrunbook: %s pid=%s backend_start=%s %s', $8::text, r.pid, to_json(u.backend_start) #>> '{}', $7::text)
    ), '[]')::text, false) AS lines
    FROM r JOIN u ON u.pid = r.pid WHERE r.outcome IN ('signalled', 'signalled_not_exited')
)
SELECT r.pid, r.outcome FROM r CROSS JOIN l`
}

// auditLogSQL writes the lines auditedSQL kept to the server log. LOG is
// above the default log_min_messages (warning) for the server log, and
// below the default client_min_messages (notice), so it goes to the log
// only. The block reads its text from the setting: a DO block takes no
// parameters, and nothing is ever pasted into it.
const auditLogSQL = `DO $$
DECLARE line text;
BEGIN
    FOR line IN SELECT json_array_elements_text(current_setting('pgrunbook.audit')::json) LOOP
        RAISE LOG '%', line;
    END LOOP;
END
$$`

// noteAborted keeps, for TakeAuditProblem, that a batch statement the
// server refused (err) was rolled back with the server log lines of any
// signal it had sent before the refusal.
func (c *Client) noteAborted(fn activity.Function, err error) {
	c.addAuditProblem(fmt.Sprintf("the server refused the batch %s statement (%s): signals it sent before the refusal left no server log line", fn, oneLine(err)))
}

// addAuditProblem adds msg to the problems TakeAuditProblem returns next.
func (c *Client) addAuditProblem(msg string) {
	if c.audit.problem != "" {
		msg = c.audit.problem + "; " + msg
	}
	c.audit.problem = msg
}

// noteAudit keeps, for TakeAuditProblem, why the server log lines of the
// signals in results could not be written (err is the audit block's
// outcome). Nothing to write when nothing was signalled. The signals'
// outcomes stand either way.
func (c *Client) noteAudit(results []activity.SignalResult, err error) {
	signalled := 0
	for _, r := range results {
		if r.Outcome == activity.Signalled {
			signalled++
		}
	}
	if signalled == 0 || err == nil {
		return
	}
	c.addAuditProblem(fmt.Sprintf("the server log line of %d signal(s) could not be written: %s", signalled, oneLine(err)))
}
