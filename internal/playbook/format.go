package playbook

import (
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr/builtin"
)

// ValueType is the type of a value in a playbook file.
type ValueType string

// Value types of the playbook format.
const (
	// ValueText is text. Any scalar is read as text (`title: 2` is "2").
	ValueText ValueType = "text"
	// ValueExpression is an expr-lang expression, compiled when the
	// playbook loads.
	ValueExpression ValueType = "expression"
	// ValueExpressionList is a list of expressions.
	ValueExpressionList ValueType = "expression list"
	// ValueSet names a target set: a step id, or id.part.
	ValueSet ValueType = "set"
	// ValueInt is a whole number.
	ValueInt ValueType = "int"
	// ValueBool is true or false.
	ValueBool ValueType = "bool"
	// ValueDuration is a Go duration with a unit: 30s, 5m, 1h30m.
	ValueDuration ValueType = "duration"
	// ValueTextList is a list of text.
	ValueTextList ValueType = "text list"
	// ValueExpectation is query_stopped, gone, or an expression.
	ValueExpectation ValueType = "expectation"
	// ValueParams maps parameter names to Format.Param mappings.
	ValueParams ValueType = "params"
	// ValueSteps is the list of steps.
	ValueSteps ValueType = "steps"
	// ValueParamDefault is a value of the parameter's own type.
	ValueParamDefault ValueType = "default"
	// ValueNothing is an empty value (`activity:`).
	ValueNothing ValueType = "nothing"
)

// Key is one key of a mapping in a playbook file.
type Key struct {
	Name     string
	Type     ValueType
	Required bool
	// Enum lists the allowed values of a text key.
	Enum []string
	// Min is the least value of an int key (when MinSet).
	Min    int
	MinSet bool
	// Pattern is a regular expression a text value must match.
	Pattern string
	// Doc says what the key is for.
	Doc string
}

// Mapping is one mapping of the playbook format and the keys it allows.
type Mapping struct {
	Keys []Key
	// Short is the type of the scalar a mapping may be written as
	// instead (`wait: 5s`, `note: text`, `activity:`); "" when none.
	Short ValueType
	// Doc says what the mapping is.
	Doc string
}

// Names lists the mapping's keys in order.
func (m Mapping) Names() []string {
	names := make([]string, len(m.Keys))
	for i, k := range m.Keys {
		names[i] = k.Name
	}
	return names
}

// Key returns the key with the given name.
func (m Mapping) Key(name string) (Key, bool) {
	for _, k := range m.Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// Patterns of names.
const (
	// PlaybookNamePattern is what a playbook's name matches.
	PlaybookNamePattern = `^[a-z_-][a-z0-9_-]*$`
	// IDPattern is what step ids and parameter names match.
	IDPattern = `^[a-z_][a-z0-9_]*$`
	// SetPattern is what a target set reference matches.
	SetPattern = `^\s*[a-z_][a-z0-9_]*(\.[a-z_]+)?\s*$`
)

// Format is the playbook format: every mapping and its keys, with their
// types. The loader reads playbooks by it (an unknown key is an error,
// each value is read as its key's type) and `pgrunbook schema` generates
// the JSON Schema from it, so the two cannot drift apart.
var Format = struct {
	// Playbook is the top-level mapping.
	Playbook Mapping
	// Param is one parameter under params.
	Param Mapping
	// Step holds the keys every step may have besides its kind.
	Step Mapping
	// Kinds are the step kinds, by name, in the order of StepKinds.
	Kinds map[string]Mapping
}{
	Playbook: Mapping{Doc: "A pgrunbook playbook: an incident procedure as typed parameters, protections and an ordered list of steps.", Keys: []Key{
		{Name: "name", Type: ValueText, Required: true, Pattern: PlaybookNamePattern, Doc: "The playbook's name: lower-case letters, digits, - and _."},
		{Name: "summary", Type: ValueText, Doc: "One line for `pgrunbook list`."},
		{Name: "guidance", Type: ValueText, Doc: "Shown at the start of every run: what the playbook is for and why it acts as it does."},
		{Name: "params", Type: ValueParams, Doc: "Typed parameters, set with --set NAME=VALUE; a parameter without a default is required."},
		{Name: "protect", Type: ValueExpressionList, Doc: "Expressions over a session; a session for which any is true is never targeted."},
		{Name: "unprotect", Type: ValueTextList, Enum: DefaultProtectionNames(), Doc: "Default protections this playbook does without, by name (backups, replication, monitoring, provider); every other default protection applies."},
		{Name: "steps", Type: ValueSteps, Required: true, Doc: "The steps, run in order."},
	}},
	Param: Mapping{Doc: "A typed parameter.", Keys: []Key{
		{Name: "type", Type: ValueText, Required: true, Enum: ParamTypes, Doc: "The parameter's type."},
		{Name: "default", Type: ValueParamDefault, Doc: "The value when the run sets none, of the parameter's type (a list for list); without it the parameter is required."},
		{Name: "help", Type: ValueText, Doc: "What the parameter means, shown by `pgrunbook explain`."},
	}},
	Step: Mapping{Doc: "A step: exactly one kind, plus these keys.", Keys: []Key{
		{Name: "id", Type: ValueText, Pattern: IDPattern, Doc: "Names the step and the sets it produces, for later steps' expressions and targets."},
		{Name: "title", Type: ValueText, Doc: "Shown to the operator."},
		{Name: "explain", Type: ValueText, Doc: "Shown under the title: why the step exists."},
		{Name: "if", Type: ValueExpression, Doc: "A condition over params and earlier sets; when false the step is skipped."},
	}},
	Kinds: map[string]Mapping{
		KindActivity: {Short: ValueNothing, Doc: "Take a fresh snapshot of pg_stat_activity; the step's set is every row (with samples, the sessions present in every sample).", Keys: []Key{
			{Name: "samples", Type: ValueInt, Min: 1, MinSet: true, Doc: "How many snapshots to take, interval apart (default 1); the set keeps the sessions (pid, backend_start) present in all of them, as the last one shows them."},
			{Name: "interval", Type: ValueDuration, Doc: "The pause between samples (default 2s); only with samples above 1."},
			{Name: "stable", Type: ValueExpression, Doc: "An expression over each session, evaluated on every sample: the set keeps only the sessions for which it held in all of them."},
			{Name: "host_stats", Type: ValueBool, Doc: "Read host facts (cpu_percent, memory_bytes, io_read_rate, io_write_rate) for the sessions of the last sample, when pgrunbook runs on the database host; otherwise a note says they are unavailable and host_stats stays false."},
			{Name: "host_interval", Type: ValueDuration, Doc: "How long host facts are measured over (default 500ms); only with host_stats."},
		}},
		KindFilter: {Doc: "Keep the sessions of a set for which where is true.", Keys: []Key{
			{Name: "from", Type: ValueSet, Doc: "The set to filter; default: the latest activity step."},
			{Name: "where", Type: ValueExpression, Required: true, Doc: "True for the sessions to keep."},
			{Name: "order_by", Type: ValueExpression, Doc: "Orders the sessions by this expression's value."},
			{Name: "descending", Type: ValueBool, Doc: "Orders from the largest value."},
			{Name: "limit", Type: ValueInt, Min: 1, MinSet: true, Doc: "Keeps at most this many sessions."},
		}},
		KindSummarize: {Short: ValueNothing, Doc: "Group the sessions of a set by some of their fields and count them, largest group first; the step's id is the list of groups.", Keys: []Key{
			{Name: "from", Type: ValueSet, Doc: "The set to summarize; default: the latest activity step."},
			{Name: "by", Type: ValueTextList, Doc: "The row fields to group by (default: application_name, usename, client_addr, state)."},
			{Name: "top", Type: ValueInt, Min: 1, MinSet: true, Doc: "Keeps only this many groups, the largest."},
		}},
		KindHorizon: {Short: ValueNothing, Doc: "Read what pins the xmin horizon besides sessions: replication slots, prepared transactions, standbys with hot_standby_feedback; shows each with the statement a DBA would run, and runs none. The step's id holds them: ID.slots, ID.prepared, ID.standbys."},
		KindConfirm: {Doc: "Ask the operator to approve a set, all of it or a subset; the approved sessions are the step's set.", Keys: []Key{
			{Name: "targets", Type: ValueSet, Required: true, Doc: "The set to approve."},
			{Name: "action", Type: ValueText, Enum: []string{KindCancel, KindTerminate}, Doc: "What the approval is for."},
			{Name: "question", Type: ValueText, Doc: "The question, instead of the default one."},
		}},
		KindCancel:    actionMapping("Cancel the running statement of each session of a set (pg_cancel_backend); the session stays connected."),
		KindTerminate: terminateMapping(),
		KindWait: {Short: ValueDuration, Doc: "Wait a fixed time (wait: 5s), or until a condition holds on fresh snapshots.", Keys: []Key{
			{Name: "for", Type: ValueDuration, Doc: "How long to wait."},
			{Name: "until", Type: ValueExpression, Doc: "A condition over params, earlier sets and rows (a fresh snapshot's sessions)."},
			{Name: "timeout", Type: ValueDuration, Doc: "How long to wait for until (default 30s)."},
		}},
		KindVerify: {Doc: "Check an expectation for each session of a set on fresh snapshots; splits the set into ID.passed and ID.failed.", Keys: []Key{
			{Name: "targets", Type: ValueSet, Required: true, Doc: "The sessions to check."},
			{Name: "expect", Type: ValueExpectation, Required: true, Enum: []string{ExpectQueryStopped, ExpectGone}, Doc: "query_stopped, gone, or an expression over each session."},
			{Name: "timeout", Type: ValueDuration, Doc: "How long to poll (default 10s)."},
		}},
		KindNote: {Short: ValueText, Doc: "Show guidance to the operator (note: text).", Keys: []Key{
			{Name: "text", Type: ValueText, Doc: "The note."},
		}},
	},
}

func actionMapping(doc string) Mapping {
	return Mapping{Doc: doc, Keys: []Key{
		{Name: "targets", Type: ValueSet, Required: true, Doc: "The sessions to signal."},
		{Name: "max_targets", Type: ValueInt, Min: 1, MinSet: true, Doc: "The blast-radius limit (default 5): more targets and the step refuses unless the operator picks a subset."},
		{Name: "backend_types", Type: ValueTextList, Doc: `Backend types other than "client backend" the step may signal.`},
	}}
}

func terminateMapping() Mapping {
	m := actionMapping("Terminate each session of a set (pg_terminate_backend): disconnected, its transaction rolled back.")
	m.Keys = append(m.Keys, Key{Name: "timeout", Type: ValueDuration, Doc: "On PostgreSQL 14 and later, the signalling statement waits up to this long for each session to exit (pg_terminate_backend(pid, timeout)); on 13 it is ignored and the verify after it does the waiting."})
	return m
}

// enumText joins allowed values for a message: "a or b".
func enumText(values []string) string { return strings.Join(values, " or ") }

// ReservedNames lists the names a step id may not take, because
// expressions already use them: the row fields, params, rows and
// expr-lang's built-in functions. Sorted.
func ReservedNames() []string {
	names := append(RowFields(), nameParams, nameRows, nameServer)
	names = append(names, functionNames...)
	for name := range builtin.Index {
		names = append(names, name)
	}
	sort.Strings(names)
	return slices.Compact(names)
}
