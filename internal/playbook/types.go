package playbook

import (
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/expr-lang/expr/vm"
)

// Pos is a position in a playbook's source, 1-based.
type Pos struct {
	Line   int
	Column int
}

// Playbook is a loaded, checked playbook, ready to run.
type Playbook struct {
	// Path is where the playbook was read from: a file path, or
	// "builtin:NAME" for a playbook embedded in the binary.
	Path string
	// SHA256 is the hex digest of Source, recorded in transcripts so a run
	// can be tied to the exact playbook text.
	SHA256 string
	Source []byte

	Name     string
	Summary  string
	Guidance string
	Params   []*Param
	// Protect holds expressions over a session; a session for which any
	// is true is never targeted.
	Protect []*Expr
	Steps   []*Step

	paramsType reflect.Type
	// requires are the version-gated facts the expressions use.
	requires []Requirement
}

// Param returns the parameter with the given name, or nil.
func (p *Playbook) Param(name string) *Param {
	for _, prm := range p.Params {
		if prm.Name == name {
			return prm
		}
	}
	return nil
}

// Step kinds.
const (
	KindActivity  = "activity"
	KindFilter    = "filter"
	KindConfirm   = "confirm"
	KindCancel    = "cancel"
	KindTerminate = "terminate"
	KindWait      = "wait"
	KindVerify    = "verify"
	KindNote      = "note"
)

// StepKinds lists the step kinds in the order the documentation presents them.
var StepKinds = []string{KindActivity, KindFilter, KindConfirm, KindCancel, KindTerminate, KindWait, KindVerify, KindNote}

// Step is one step of a playbook. Exactly one of the kind fields is set,
// the one named by Kind.
type Step struct {
	// Index is the step's 0-based position in the playbook.
	Index int
	// ID names the step and the target sets it produces. Steps without an
	// id in the file get "step<N>" (1-based), which nothing can reference.
	ID      string
	Title   string
	Explain string
	// If, when set, is evaluated before the step; false skips it.
	If   *Expr
	Kind string
	Pos  Pos

	Activity *ActivityStep
	Filter   *FilterStep
	Confirm  *ConfirmStep
	Action   *ActionStep // for both cancel and terminate
	Wait     *WaitStep
	Verify   *VerifyStep
	Note     *NoteStep

	explicitID bool
}

// DisplayTitle is the step's title, or a description made from its kind.
func (s *Step) DisplayTitle() string {
	if s.Title != "" {
		return s.Title
	}
	switch s.Kind {
	case KindActivity:
		return "Take a snapshot of pg_stat_activity"
	case KindFilter:
		return "Select sessions from " + s.Filter.From.String()
	case KindConfirm:
		return "Confirm the sessions in " + s.Confirm.Targets.String()
	case KindCancel:
		return "Cancel the statements of " + s.Action.Targets.String()
	case KindTerminate:
		return "Terminate the sessions in " + s.Action.Targets.String()
	case KindWait:
		if s.Wait.Until != nil {
			return "Wait until " + s.Wait.Until.Source
		}
		return "Wait " + s.Wait.For.String()
	case KindVerify:
		return "Verify " + s.Verify.Targets.String() + ": " + s.Verify.Expect
	case KindNote:
		return "Note"
	}
	return s.Kind
}

// SetRef names a target set: a step id, optionally followed by a part such
// as "failed" for the sets a verify step splits its targets into.
type SetRef struct {
	Step string
	Part string
	Pos  Pos
}

// String returns the reference as written: "id" or "id.part".
func (r SetRef) String() string {
	if r.Part == "" {
		return r.Step
	}
	return r.Step + "." + r.Part
}

// ActivityStep takes a fresh snapshot of pg_stat_activity.
type ActivityStep struct{}

// FilterStep selects rows of an earlier set.
type FilterStep struct {
	From       SetRef
	Where      *Expr
	OrderBy    *Expr // optional
	Descending bool
	Limit      int // 0 means no limit
}

// ConfirmStep asks the operator to approve a target set, all of it or a
// subset; the approved sessions become the step's own set.
type ConfirmStep struct {
	Targets SetRef
	// Action is what the approval is for ("cancel" or "terminate"); it
	// chooses the wording of the question and, with MaxTargets, the limit.
	Action   string
	Question string
}

// DefaultMaxTargets is the blast-radius limit of an action step that sets none.
const DefaultMaxTargets = 5

// ActionStep cancels (pg_cancel_backend) or terminates
// (pg_terminate_backend) the sessions of a target set.
type ActionStep struct {
	Targets SetRef
	// MaxTargets is the blast-radius limit: more targets than this and the
	// step refuses unless the operator picks a subset within it.
	MaxTargets int
	// BackendTypes opts in backend types other than "client backend".
	BackendTypes []string
}

// WaitStep waits a fixed time, or until a condition holds on fresh
// snapshots (with a timeout).
type WaitStep struct {
	For     time.Duration
	Until   *Expr
	Timeout time.Duration
}

// Verify expectations other than an expression.
const (
	ExpectQueryStopped = "query_stopped"
	ExpectGone         = "gone"
)

// DefaultVerifyTimeout is how long verify polls when the step sets no timeout.
const DefaultVerifyTimeout = 10 * time.Second

// VerifyStep checks an expectation about each target on fresh snapshots
// and splits the targets into the sets passed and failed.
type VerifyStep struct {
	Targets SetRef
	// Expect is "query_stopped", "gone", or the source of Condition.
	Expect    string
	Condition *Expr // set when Expect is an expression
	Timeout   time.Duration
}

// NoteStep shows guidance to the operator.
type NoteStep struct {
	Text string
}

// Expr is a compiled expression with the place it came from.
type Expr struct {
	Source  string
	Pos     Pos
	Program *vm.Program

	node *yaml.Node
}
