package playbook

import (
	"fmt"
	"reflect"
	"slices"

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

// rowField is one row field as expressions see it: its name and how to
// read it from a session.
type rowField struct {
	name string
	get  func(*activity.Session) any
}

// rowFieldTable lists every row field (TestRowFieldTableIsComplete checks
// it against the expr tags of activity.Session). It is written out, not
// reflected, because it runs once per row per expression.
var rowFieldTable = []rowField{
	{"pid", func(r *activity.Session) any { return r.PID }},
	{"datname", func(r *activity.Session) any { return r.Datname }},
	{"usename", func(r *activity.Session) any { return r.Usename }},
	{"application_name", func(r *activity.Session) any { return r.ApplicationName }},
	{"client_addr", func(r *activity.Session) any { return r.ClientAddr }},
	{"client_hostname", func(r *activity.Session) any { return r.ClientHostname }},
	{"client_port", func(r *activity.Session) any { return r.ClientPort }},
	{"backend_start", func(r *activity.Session) any { return r.BackendStart }},
	{"xact_start", func(r *activity.Session) any { return r.XactStart }},
	{"query_start", func(r *activity.Session) any { return r.QueryStart }},
	{"state_change", func(r *activity.Session) any { return r.StateChange }},
	{"wait_event_type", func(r *activity.Session) any { return r.WaitEventType }},
	{"wait_event", func(r *activity.Session) any { return r.WaitEvent }},
	{"state", func(r *activity.Session) any { return r.State }},
	{"backend_xid", func(r *activity.Session) any { return r.BackendXID }},
	{"backend_xmin", func(r *activity.Session) any { return r.BackendXmin }},
	{"query", func(r *activity.Session) any { return r.Query }},
	{"backend_type", func(r *activity.Session) any { return r.BackendType }},
	{"leader_pid", func(r *activity.Session) any { return r.LeaderPID }},
	{"query_id", func(r *activity.Session) any { return r.QueryID }},
	{"query_runtime", func(r *activity.Session) any { return r.QueryRuntime }},
	{"xact_runtime", func(r *activity.Session) any { return r.XactRuntime }},
	{"state_runtime", func(r *activity.Session) any { return r.StateRuntime }},
	{"backend_runtime", func(r *activity.Session) any { return r.BackendRuntime }},
	{"blocked_by", func(r *activity.Session) any { return r.BlockedBy }},
	{"root_blockers", func(r *activity.Session) any { return r.RootBlockers }},
	{"blocking", func(r *activity.Session) any { return r.Blocking }},
	{"is_root_blocker", func(r *activity.Session) any { return r.IsRootBlocker }},
	{"is_self", func(r *activity.Session) any { return r.IsSelf }},
	{"command", func(r *activity.Session) any { return r.Command }},
	{"is_ddl", func(r *activity.Session) any { return r.IsDDL }},
	{"xact_aborted", func(r *activity.Session) any { return r.XactAborted }},
	{"is_wraparound_vacuum", func(r *activity.Session) any { return r.IsWraparoundVacuum }},
	{"xmin_age", func(r *activity.Session) any { return r.XminAge }},
	{"xid_age", func(r *activity.Session) any { return r.XidAge }},
	{"wait_lock_type", func(r *activity.Session) any { return r.WaitLockType }},
	{"wait_lock_mode", func(r *activity.Session) any { return r.WaitLockMode }},
	{"wait_relation", func(r *activity.Session) any { return r.WaitRelation }},
	{"lock_wait_runtime", func(r *activity.Session) any { return r.LockWaitRuntime }},
	{"hard_blocked_by", func(r *activity.Session) any { return r.HardBlockedBy }},
	{"soft_blocked_by", func(r *activity.Session) any { return r.SoftBlockedBy }},
	{"held_lock_mode", func(r *activity.Session) any { return r.HeldLockMode }},
	{"blocking_total", func(r *activity.Session) any { return r.BlockingTotal }},
	{"host_stats", func(r *activity.Session) any { return r.HostStats }},
	{"cpu_percent", func(r *activity.Session) any { return r.CPUPercent }},
	{"memory_bytes", func(r *activity.Session) any { return r.MemoryBytes }},
	{"io_read_rate", func(r *activity.Session) any { return r.IOReadRate }},
	{"io_write_rate", func(r *activity.Session) any { return r.IOWriteRate }},
	{"via_pooler", func(r *activity.Session) any { return r.ViaPooler }},
	{"pooler_reason", func(r *activity.Session) any { return r.PoolerReason }},
	{"pool_mode", func(r *activity.Session) any { return r.PoolMode }},
	{"pooler_client_addr", func(r *activity.Session) any { return r.PoolerClientAddr }},
	{"pooler_client_port", func(r *activity.Session) any { return r.PoolerClientPort }},
	{"pooler_client_app", func(r *activity.Session) any { return r.PoolerClientApp }},
}

// rowFieldByName indexes rowFieldTable.
var rowFieldByName = func() map[string]rowField {
	m := make(map[string]rowField, len(rowFieldTable))
	for _, f := range rowFieldTable {
		m[f.name] = f
	}
	return m
}()

// putRow writes every field of a session into an expression environment.
func putRow(m map[string]any, r *activity.Session) {
	putFields(m, r, rowFieldTable)
}

// putFields writes the given fields of a session into an environment.
func putFields(m map[string]any, r *activity.Session, fields []rowField) {
	for _, f := range fields {
		m[f.name] = f.get(r)
	}
}

// rowFieldsOf lists the row fields a compiled expression reads: the names
// its bytecode loads from the environment (OpLoadFast, OpLoadConst), read
// from the program itself rather than its tree, so that nothing the
// optimizer folds (a map fused into a filter) is missed. An expression
// that reads the environment as a whole ($env) gets every field.
func rowFieldsOf(prog *vm.Program) []rowField {
	seen := map[string]bool{}
	var fields []rowField
	for i, op := range prog.Bytecode {
		switch op {
		case vm.OpLoadEnv:
			return rowFieldTable
		case vm.OpLoadFast, vm.OpLoadConst:
			name, ok := prog.Constants[prog.Arguments[i]].(string)
			if !ok || seen[name] {
				continue
			}
			if f, ok := rowFieldByName[name]; ok {
				seen[name] = true
				fields = append(fields, f)
			}
		}
	}
	return fields
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
		m[nameRows] = sessionSet{}
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
	// values are the steps' results as Put was given them; vars is what
	// expressions see: the same, with sets of sessions as pointers
	// (exprValue).
	values map[string]any
	vars   map[string]any
}

// NewScope starts a run's scope with its parameter values. Every step that
// produces sessions starts out with empty ones, so a step that is skipped
// reads as "nothing" to the steps after it.
func (p *Playbook) NewScope(vals Values) *Scope {
	s := &Scope{values: map[string]any{}, vars: map[string]any{nameParams: p.ParamsValue(vals), nameServer: activity.Server{}}}
	for _, st := range p.Steps {
		if v := st.emptyValue(); v != nil {
			s.Put(st.ID, v)
		}
	}
	return s
}

// sessionSet is a set of sessions as expressions see it: pointers into
// the set, so that an expression that walks a set (map(approved, .pid))
// does not copy every session it visits.
type sessionSet = []*activity.Session

// verifyView and actionView are VerifySets and ActionSets as expressions
// see them.
type verifyView struct {
	Passed sessionSet `expr:"passed"`
	Failed sessionSet `expr:"failed"`
}

type actionView struct {
	Signalled sessionSet `expr:"signalled"`
	NotFound  sessionSet `expr:"not_found"`
	Changed   sessionSet `expr:"changed"`
	Denied    sessionSet `expr:"denied"`
	Error     sessionSet `expr:"error"`
}

// exprValue is a step's result as expressions see it. Loading type-checks
// expressions against these types, and a run gives them these values.
func exprValue(v any) any {
	switch x := v.(type) {
	case []activity.Session:
		return pointers(x)
	case VerifySets:
		return verifyView{Passed: pointers(x.Passed), Failed: pointers(x.Failed)}
	case ActionSets:
		return actionView{Signalled: pointers(x.Signalled), NotFound: pointers(x.NotFound),
			Changed: pointers(x.Changed), Denied: pointers(x.Denied), Error: pointers(x.Error)}
	}
	return v
}

// pointers points at each session of rows; never nil.
func pointers(rows []activity.Session) sessionSet {
	out := make(sessionSet, len(rows))
	for i := range rows {
		out[i] = &rows[i]
	}
	return out
}

// SetServer makes srv what expressions see as server: the engine calls it
// with each snapshot's server facts.
func (s *Scope) SetServer(srv activity.Server) { s.vars[nameServer] = srv }

// Put records a step's result under its id: a []activity.Session,
// VerifySets, ActionSets, a summarize step's Value or an
// activity.Horizon.
func (s *Scope) Put(id string, v any) {
	s.values[id] = v
	s.vars[id] = exprValue(v)
}

// Get returns the value recorded under id.
func (s *Scope) Get(id string) (any, bool) {
	v, ok := s.values[id]
	return v, ok
}

// Sessions resolves a target reference to the sessions it names. A step
// that was skipped produced nothing, which is the empty set.
func (s *Scope) Sessions(ref SetRef) []activity.Session {
	v, ok := s.values[ref.Step]
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
	m[nameRows] = pointers(rows)
	return runBool(e, m)
}

// RowEvaluator evaluates row expressions over many rows, reusing one
// environment. For each row it writes only the fields the expression
// reads (rowFieldsOf), so a filter over 2,000 rows costs what its
// expression uses, not every field of every row. It is not safe for
// concurrent use.
type RowEvaluator struct {
	env    map[string]any
	fields map[*vm.Program][]rowField
	// machine runs every evaluation: one VM reused, its stack kept,
	// instead of a new one per row.
	machine vm.VM
}

// RowEvaluator returns an evaluator that sees the scope as it is now.
func (s *Scope) RowEvaluator() *RowEvaluator {
	m := make(map[string]any, len(s.vars)+len(rowFieldNames))
	for k, v := range s.vars {
		m[k] = v
	}
	return &RowEvaluator{env: m, fields: map[*vm.Program][]rowField{}}
}

// put writes the fields of row that e reads.
func (r *RowEvaluator) put(e *Expr, row *activity.Session) {
	fields, ok := r.fields[e.Program]
	if !ok {
		fields = rowFieldsOf(e.Program)
		r.fields[e.Program] = fields
	}
	putFields(r.env, row, fields)
}

// Bool evaluates a boolean row expression for one row.
func (r *RowEvaluator) Bool(e *Expr, row *activity.Session) (bool, error) {
	r.put(e, row)
	v, err := r.machine.Run(e.Program, r.env)
	return boolResult(e, v, err)
}

// Value evaluates a row expression for one row.
func (r *RowEvaluator) Value(e *Expr, row *activity.Session) (any, error) {
	r.put(e, row)
	v, err := r.machine.Run(e.Program, r.env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Source, err)
	}
	return v, nil
}

func runBool(e *Expr, env map[string]any) (bool, error) {
	v, err := expr.Run(e.Program, env)
	return boolResult(e, v, err)
}

// boolResult is the outcome of a boolean expression that returned v, err.
func boolResult(e *Expr, v any, err error) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %w", e.Source, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: got %T, want bool", e.Source, v)
	}
	return b, nil
}
