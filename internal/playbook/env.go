package playbook

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// VerifySets is what a verify step's id stands for in expressions: its
// targets split by the outcome of the check.
type VerifySets struct {
	Passed []activity.Session `expr:"passed"`
	Failed []activity.Session `expr:"failed"`
}

// ActionSets is what a cancel or terminate step's id stands for in
// expressions: its targets grouped by outcome.
type ActionSets struct {
	Signalled []activity.Session `expr:"signalled"`
	NotFound  []activity.Session `expr:"not_found"`
	Changed   []activity.Session `expr:"changed"`
	Denied    []activity.Session `expr:"denied"`
	Error     []activity.Session `expr:"error"`
}

// Parts of the sets that verify and action steps produce, as written in a
// target reference ("check.failed").
var (
	VerifyParts = []string{"passed", "failed"}
	ActionParts = []string{"signalled", "not_found", "changed", "denied", "error"}
)

// Part returns the named part of the sets, and whether the name is one.
func (v VerifySets) Part(name string) ([]activity.Session, bool) {
	switch name {
	case "passed":
		return v.Passed, true
	case "failed":
		return v.Failed, true
	}
	return nil, false
}

// Part returns the named part of the sets, and whether the name is one.
func (a ActionSets) Part(name string) ([]activity.Session, bool) {
	switch name {
	case "signalled":
		return a.Signalled, true
	case "not_found":
		return a.NotFound, true
	case "changed":
		return a.Changed, true
	case "denied":
		return a.Denied, true
	case "error":
		return a.Error, true
	}
	return nil, false
}

// Names that expressions reserve besides the row fields.
const (
	nameParams = "params"
	nameRows   = "rows"
	// nameServer is the server the latest snapshot was read from
	// (activity.Server).
	nameServer = "server"
)

// rowFieldNames lists the row fields in catalog order, from the expr tags
// of activity.Session.
var rowFieldNames = func() []string {
	t := reflect.TypeOf(activity.Session{})
	names := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			names = append(names, tag)
		}
	}
	return names
}()

// RowFields returns the names of the fields a row expression can use.
func RowFields() []string { return append([]string(nil), rowFieldNames...) }

// putRow writes a session's fields into an expression environment. It is
// written out, not reflected, because it runs once per row per expression.
func putRow(m map[string]any, r *activity.Session) {
	m["pid"] = r.PID
	m["datname"] = r.Datname
	m["usename"] = r.Usename
	m["application_name"] = r.ApplicationName
	m["client_addr"] = r.ClientAddr
	m["client_hostname"] = r.ClientHostname
	m["client_port"] = r.ClientPort
	m["backend_start"] = r.BackendStart
	m["xact_start"] = r.XactStart
	m["query_start"] = r.QueryStart
	m["state_change"] = r.StateChange
	m["wait_event_type"] = r.WaitEventType
	m["wait_event"] = r.WaitEvent
	m["state"] = r.State
	m["backend_xid"] = r.BackendXID
	m["backend_xmin"] = r.BackendXmin
	m["query"] = r.Query
	m["backend_type"] = r.BackendType
	m["leader_pid"] = r.LeaderPID
	m["query_id"] = r.QueryID
	m["query_runtime"] = r.QueryRuntime
	m["xact_runtime"] = r.XactRuntime
	m["state_runtime"] = r.StateRuntime
	m["backend_runtime"] = r.BackendRuntime
	m["blocked_by"] = r.BlockedBy
	m["root_blockers"] = r.RootBlockers
	m["blocking"] = r.Blocking
	m["is_root_blocker"] = r.IsRootBlocker
	m["is_self"] = r.IsSelf
	m["command"] = r.Command
	m["is_ddl"] = r.IsDDL
	m["xact_aborted"] = r.XactAborted
	m["is_wraparound_vacuum"] = r.IsWraparoundVacuum
	m["xmin_age"] = r.XminAge
	m["xid_age"] = r.XidAge
	m["wait_lock_type"] = r.WaitLockType
	m["wait_lock_mode"] = r.WaitLockMode
	m["wait_relation"] = r.WaitRelation
	m["lock_wait_runtime"] = r.LockWaitRuntime
	m["hard_blocked_by"] = r.HardBlockedBy
	m["soft_blocked_by"] = r.SoftBlockedBy
	m["held_lock_mode"] = r.HeldLockMode
	m["blocking_total"] = r.BlockingTotal
	m["host_stats"] = r.HostStats
	m["cpu_percent"] = r.CPUPercent
	m["memory_bytes"] = r.MemoryBytes
	m["io_read_rate"] = r.IOReadRate
	m["io_write_rate"] = r.IOWriteRate
	m["via_pooler"] = r.ViaPooler
	m["pooler_reason"] = r.PoolerReason
	m["pool_mode"] = r.PoolMode
	m["pooler_client_addr"] = r.PoolerClientAddr
	m["pooler_client_port"] = r.PoolerClientPort
	m["pooler_client_app"] = r.PoolerClientApp
}

// scopeKind says which names an expression may use.
type scopeKind int

const (
	// scopeRow: one session's fields, params and the earlier sets
	// (filters, protections, verify expectations).
	scopeRow scopeKind = iota
	// scopeCondition: params and the earlier sets (if:).
	scopeCondition
	// scopeRows: params, the earlier sets and `rows`, a fresh snapshot's
	// sessions (wait until:).
	scopeRows
)

// compileEnv is the typed environment expressions are checked against
// while a playbook loads; sets grows as steps declare them.
type compileEnv struct {
	params any
	sets   map[string]any
}

func (c *compileEnv) env(kind scopeKind) map[string]any {
	m := map[string]any{nameParams: c.params, nameServer: activity.Server{}}
	for k, v := range c.sets {
		m[k] = v
	}
	switch kind {
	case scopeRow:
		putRow(m, &activity.Session{BlockedBy: []int{}, RootBlockers: []int{}, HardBlockedBy: []int{}, SoftBlockedBy: []int{}})
	case scopeRows:
		m[nameRows] = []activity.Session{}
	}
	return m
}

// compile compiles src in the given scope. wantBool makes a non-boolean
// result a compile error. The returned error message has no position;
// exprPos gives the position of the problem within src (1-based line,
// 0-based column) when the compiler knows it.
func compile(src string, env map[string]any, wantBool bool) (prog *vm.Program, msg string, line, col int) {
	opts := append([]expr.Option{expr.Env(env)}, functionOptions...)
	if wantBool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err == nil {
		return prog, "", 0, 0
	}
	var fe *file.Error
	if ok := asFileError(err, &fe); ok {
		return nil, friendlyExprMessage(fe.Message), fe.Line, fe.Column
	}
	return nil, friendlyExprMessage(err.Error()), 0, 0
}

func asFileError(err error, target **file.Error) bool {
	fe, ok := err.(*file.Error)
	if ok {
		*target = fe
	}
	return ok
}

// friendlyExprMessage rewrites the compiler's wording where it would show
// Go types a playbook author never wrote.
func friendlyExprMessage(msg string) string {
	if strings.HasPrefix(msg, "type struct {") {
		if i := strings.Index(msg, "} has no field "); i >= 0 {
			return "unknown parameter " + msg[i+len("} has no field "):] + " (parameters are declared under params:)"
		}
	}
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		if hint := suggest(name, append(RowFields(), nameParams, nameRows, nameServer)); hint != "" {
			return msg + hint
		}
		return msg + ": not a row field, params, or the id of an earlier step"
	}
	if typ, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
		return "this expression must be true or false, but it gives " + typ
	}
	msg = strings.ReplaceAll(msg, "time.Duration", "duration")
	msg = strings.ReplaceAll(msg, "time.Time", "timestamp")
	msg = strings.ReplaceAll(msg, "[]activity.Session", "target set")
	msg = strings.ReplaceAll(msg, "playbook.VerifySets", "verify result")
	msg = strings.ReplaceAll(msg, "playbook.ActionSets", "action result")
	return msg
}

// isReservedName reports whether a step id would shadow a name that
// expressions already use.
func isReservedName(id string) bool {
	if id == nameParams || id == nameRows || id == nameServer || slices.Contains(functionNames, id) {
		return true
	}
	for _, f := range rowFieldNames {
		if f == id {
			return true
		}
	}
	_, ok := builtin.Index[id]
	return ok
}

// Scope holds the values expressions see during a run besides a row:
// params and the target sets of the steps run so far.
type Scope struct {
	vars map[string]any
}

// NewScope starts a run's scope with its parameter values. Every step that
// produces sessions starts out with empty ones, so a step that is skipped
// reads as "nothing" to the steps after it.
func (p *Playbook) NewScope(vals Values) *Scope {
	s := &Scope{vars: map[string]any{nameParams: p.ParamsValue(vals), nameServer: activity.Server{}}}
	for _, st := range p.Steps {
		switch st.produces() {
		case producesSet:
			s.vars[st.ID] = []activity.Session{}
		case producesVerify:
			s.vars[st.ID] = VerifySets{}
		case producesAction:
			s.vars[st.ID] = ActionSets{}
		}
	}
	return s
}

// SetServer makes srv what expressions see as server: the engine calls it
// with each snapshot's server facts.
func (s *Scope) SetServer(srv activity.Server) { s.vars[nameServer] = srv }

// Put records a step's result under its id: a []activity.Session,
// VerifySets or ActionSets.
func (s *Scope) Put(id string, v any) { s.vars[id] = v }

// Get returns the value recorded under id.
func (s *Scope) Get(id string) (any, bool) {
	v, ok := s.vars[id]
	return v, ok
}

// Sessions resolves a target reference to the sessions it names. A step
// that was skipped produced nothing, which is the empty set.
func (s *Scope) Sessions(ref SetRef) []activity.Session {
	v, ok := s.vars[ref.Step]
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case []activity.Session:
		return x
	case VerifySets:
		rows, _ := x.Part(ref.Part)
		return rows
	case ActionSets:
		rows, _ := x.Part(ref.Part)
		return rows
	}
	return nil
}

// Condition evaluates an if: condition.
func (s *Scope) Condition(e *Expr) (bool, error) {
	return runBool(e, s.vars)
}

// Rows evaluates a wait condition against a fresh snapshot's sessions.
func (s *Scope) Rows(e *Expr, rows []activity.Session) (bool, error) {
	m := make(map[string]any, len(s.vars)+1)
	for k, v := range s.vars {
		m[k] = v
	}
	m[nameRows] = rows
	return runBool(e, m)
}

// RowEvaluator evaluates row expressions over many rows, reusing one
// environment. It is not safe for concurrent use.
type RowEvaluator struct {
	env map[string]any
}

// RowEvaluator returns an evaluator that sees the scope as it is now.
func (s *Scope) RowEvaluator() *RowEvaluator {
	m := make(map[string]any, len(s.vars)+len(rowFieldNames))
	for k, v := range s.vars {
		m[k] = v
	}
	return &RowEvaluator{env: m}
}

// Bool evaluates a boolean row expression for one row.
func (r *RowEvaluator) Bool(e *Expr, row *activity.Session) (bool, error) {
	putRow(r.env, row)
	return runBool(e, r.env)
}

// Value evaluates a row expression for one row.
func (r *RowEvaluator) Value(e *Expr, row *activity.Session) (any, error) {
	putRow(r.env, row)
	v, err := expr.Run(e.Program, r.env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Source, err)
	}
	return v, nil
}

func runBool(e *Expr, env map[string]any) (bool, error) {
	v, err := expr.Run(e.Program, env)
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %w", e.Source, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: got %T, want bool", e.Source, v)
	}
	return b, nil
}
