package playbook

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// produced says what a step's id stands for once it has run.
type produced int

const (
	producesNothing produced = iota
	producesSet              // a plain target set
	producesVerify           // VerifySets
	producesAction           // ActionSets
	producesGroups           // a summarize step's groups
	producesHorizon          // activity.Horizon
)

func (s *Step) produces() produced {
	switch s.Kind {
	case KindActivity, KindFilter, KindConfirm:
		return producesSet
	case KindVerify:
		return producesVerify
	case KindCancel, KindTerminate:
		return producesAction
	case KindSummarize:
		return producesGroups
	case KindHorizon:
		return producesHorizon
	}
	return producesNothing
}

// emptyValue is what a step's id stands for in expressions before it
// has run (and when it is skipped): nothing, of the right type.
func (s *Step) emptyValue() any {
	switch s.produces() {
	case producesSet:
		return []activity.Session{}
	case producesVerify:
		return VerifySets{}
	case producesAction:
		return ActionSets{}
	case producesGroups:
		return s.Summarize.empty()
	case producesHorizon:
		return activity.Horizon{}
	}
	return nil
}

// checker resolves references and compiles expressions in step order, so
// each step sees exactly the sets of the steps before it.
type checker struct {
	*decoder
	pb       *Playbook
	env      compileEnv
	declared map[string]*Step
}

func (d *decoder) check(pb *Playbook) {
	c := &checker{decoder: d, pb: pb, declared: map[string]*Step{}}
	pb.paramsType = paramsType(pb.Params)
	c.env = compileEnv{params: pb.ParamsValue(nil), sets: map[string]any{}}

	for _, e := range pb.Protect {
		c.compile(e, scopeRow, true)
	}
	lastActivity := ""
	for _, st := range pb.Steps {
		if st.explicitID {
			if prev, dup := c.declared[st.ID]; dup {
				c.at(st.Pos, "duplicate step id %q: step %d already uses it (line %d)", st.ID, prev.Index+1, prev.Pos.Line)
			}
		}
		if st.If != nil {
			c.compile(st.If, scopeCondition, true)
		}
		c.checkStep(st, lastActivity)
		if st.Kind == KindActivity && st.explicitID {
			lastActivity = st.ID
		}
		if st.Kind == KindActivity && !st.explicitID && lastActivity == "" {
			// An unnamed snapshot is still the default source of filters.
			lastActivity = st.ID
		}
		c.declare(st)
	}
}

func (c *checker) checkStep(st *Step, lastActivity string) {
	switch st.Kind {
	case KindActivity:
		if st.Activity.Stable != nil {
			c.compile(st.Activity.Stable, scopeRow, true)
		}
	case KindFilter:
		f := st.Filter
		c.from(st, &f.From, lastActivity)
		if f.Where != nil {
			c.compile(f.Where, scopeRow, true)
		}
		if f.OrderBy != nil {
			c.compile(f.OrderBy, scopeRow, false)
		}
	case KindSummarize:
		c.from(st, &st.Summarize.From, lastActivity)
		for _, f := range st.Summarize.By {
			if v, ok := factVersions[f]; ok {
				c.require(f, v, st.Pos)
			}
		}
	case KindConfirm:
		c.ref(st.Confirm.Targets, "targets")
	case KindCancel, KindTerminate:
		c.ref(st.Action.Targets, "targets")
	case KindVerify:
		c.ref(st.Verify.Targets, "targets")
		if st.Verify.Condition != nil {
			c.compile(st.Verify.Condition, scopeRow, true)
		}
	case KindWait:
		if st.Wait.Until != nil {
			c.compile(st.Wait.Until, scopeRows, true)
		}
	}
}

// from resolves the set a filter or summarize step reads: the one it
// names, or the latest activity step's.
func (c *checker) from(st *Step, ref *SetRef, lastActivity string) {
	if ref.Step != "" {
		c.ref(*ref, "from")
		return
	}
	if lastActivity == "" {
		c.at(st.Pos, "step %d (%s) has no from: and no activity step comes before it to take sessions from", st.Index+1, st.Kind)
		return
	}
	*ref = SetRef{Step: lastActivity, Pos: st.Pos}
	if _, ok := c.declared[lastActivity]; !ok {
		// An unnamed activity step: declare it implicitly.
		c.env.sets[lastActivity] = exprValue([]activity.Session{})
	}
}

func (c *checker) declare(st *Step) {
	v := st.emptyValue()
	if v == nil {
		return
	}
	if st.explicitID {
		c.declared[st.ID] = st
		c.env.sets[st.ID] = exprValue(v)
	}
}

// ref checks that a target reference names a set an earlier step produces.
func (c *checker) ref(r SetRef, what string) {
	if r.Step == "" {
		return
	}
	st, ok := c.declared[r.Step]
	if !ok {
		names := slices.Sorted(maps.Keys(c.declared))
		hint := suggest(r.Step, names)
		if later := c.laterStep(r.Step); later != nil {
			hint = fmt.Sprintf(" (step %d on line %d has that id, but a step can only use the sets of steps before it)", later.Index+1, later.Pos.Line)
		}
		c.at(r.Pos, "%s %q: no earlier step has id %q%s", what, r.String(), r.Step, hint)
		return
	}
	switch st.produces() {
	case producesSet:
		if r.Part != "" {
			c.at(r.Pos, "%s %q: step %q is a %s step and its set has no parts; write %q", what, r.String(), st.ID, st.Kind, st.ID)
		}
	case producesVerify:
		if !slices.Contains(VerifyParts, r.Part) {
			c.at(r.Pos, "%s %q: a verify step splits its sessions; write %s.passed or %s.failed", what, r.String(), st.ID, st.ID)
		}
	case producesAction:
		if !slices.Contains(ActionParts, r.Part) {
			c.at(r.Pos, "%s %q: a %s step groups its sessions by outcome; write %s.%s", what, r.String(), st.Kind, st.ID, strings.Join(ActionParts, " or "+st.ID+"."))
		}
	case producesGroups:
		by := "application_name"
		if len(st.Summarize.By) > 0 {
			by = st.Summarize.By[0]
		}
		c.at(r.Pos, "%s %q: a summarize step produces groups, not sessions; filter the sessions of a group instead (where: %s == %s[0].%s)", what, r.String(), by, st.ID, by)
	case producesHorizon:
		c.at(r.Pos, "%s %q: a horizon step produces slots, prepared transactions and standbys, not sessions; use it in if: conditions (len(%s.slots) > 0)", what, r.String(), st.ID)
	default:
		c.at(r.Pos, "%s %q: a %s step produces no sessions", what, r.String(), st.Kind)
	}
}

func (c *checker) laterStep(id string) *Step {
	for _, st := range c.pb.Steps {
		if st.explicitID && st.ID == id {
			return st
		}
	}
	return nil
}

// compile compiles an expression in the given scope and records a
// positioned error if it does not compile or type-check.
func (c *checker) compile(e *Expr, kind scopeKind, wantBool bool) {
	prog, msg, line, col := compile(e.Source, c.env.env(kind), wantBool)
	if prog != nil {
		e.Program = prog
		c.noteRequirements(e)
		return
	}
	p := exprPos(e, line, col, c.src.Lines())
	c.at(p, "%s", msg)
}

// exprPos maps a position inside an expression (1-based line, 0-based
// column) to its position in the playbook file. Literal block scalars keep
// their lines; folded, plain and quoted scalars are folded into one line
// by YAML, so the offset is walked back through the source lines.
func exprPos(e *Expr, line, col int, lines []string) Pos {
	n := e.node
	if n == nil || line < 1 || n.Line < 1 || n.Line > len(lines) {
		return e.Pos
	}
	srcLines := strings.Split(e.Source, "\n")
	if line > len(srcLines) {
		return e.Pos
	}
	if n.Style&yaml.LiteralStyle != 0 {
		l := n.Line + line
		if l > len(lines) {
			return e.Pos
		}
		return Pos{Line: l, Column: blockIndent(lines, n.Line) + col + 1}
	}
	offset := col
	for _, s := range srcLines[:line-1] {
		offset += len(s) + 1
	}
	// Segments: where each folded piece of the value starts in the file.
	type segment struct{ line, column, length int }
	var segs []segment
	if n.Style&yaml.FoldedStyle != 0 {
		indent := blockIndent(lines, n.Line)
		for l := n.Line + 1; l <= len(lines); l++ {
			text := lines[l-1]
			if strings.TrimSpace(text) == "" {
				continue
			}
			if len(text)-len(strings.TrimLeft(text, " ")) < indent {
				break
			}
			segs = append(segs, segment{l, indent + 1, len(text) - indent})
		}
	} else {
		start := n.Column
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			start++
		}
		first := lines[n.Line-1]
		keyIndent := len(first) - len(strings.TrimLeft(first, " "))
		segs = append(segs, segment{n.Line, start, max(len(first)-start+1, 0)})
		// Continuation lines of a multi-line plain scalar are indented
		// deeper than the line its key is on.
		for l := n.Line + 1; l <= len(lines); l++ {
			text := lines[l-1]
			trimmed := strings.TrimLeft(text, " \t")
			if trimmed == "" || len(text)-len(trimmed) <= keyIndent {
				break
			}
			segs = append(segs, segment{l, len(text) - len(trimmed) + 1, len(trimmed)})
		}
	}
	for _, sg := range segs {
		if offset <= sg.length {
			return Pos{Line: sg.line, Column: sg.column + offset}
		}
		offset -= sg.length + 1
	}
	return e.Pos
}

// blockIndent is the indentation of a block scalar's first content line.
func blockIndent(lines []string, headerLine int) int {
	for l := headerLine + 1; l <= len(lines); l++ {
		text := lines[l-1]
		if strings.TrimSpace(text) != "" {
			return len(text) - len(strings.TrimLeft(text, " "))
		}
	}
	return 0
}
