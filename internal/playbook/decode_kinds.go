package playbook

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoders of the step kinds. Each reads its mapping by the keys and
// types Format gives it (d.read), and adds only what a type cannot say:
// required keys, keys that go together, defaults.

// setRef parses "id" or "id.part".
func (d *decoder) setRef(n *yaml.Node, what string) SetRef {
	s, ok := d.str(n, what)
	if !ok {
		return SetRef{}
	}
	if strings.TrimSpace(s) == "" {
		d.at(posOf(n), "%s is empty: give the id of an earlier step", what)
		return SetRef{}
	}
	step, part, _ := strings.Cut(strings.TrimSpace(s), ".")
	return SetRef{Step: step, Part: part, Pos: posOf(n)}
}

func (d *decoder) filter(n *yaml.Node, what string) *FilterStep {
	fs := &FilterStep{}
	m := Format.Kinds[KindFilter]
	for _, f := range d.fields(n, what, m.Names()) {
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "from":
			fs.From = v.(SetRef)
		case "where":
			fs.Where = v.(*Expr)
		case "order_by":
			fs.OrderBy = v.(*Expr)
		case "descending":
			fs.Descending = v.(bool)
		case "limit":
			fs.Limit = v.(int)
		}
	}
	if n.Kind == yaml.MappingNode && fs.Where == nil && !hasKey(n, "where") {
		d.at(posOf(n), "%s needs where: an expression that is true for the sessions to keep", what)
	}
	return fs
}

func (d *decoder) requireTargets(n *yaml.Node, ref SetRef, what string) {
	if n.Kind == yaml.MappingNode && ref.Step == "" && !hasKey(n, "targets") {
		d.at(posOf(n), "%s needs targets: the id of the step whose sessions it acts on", what)
	}
}

func (d *decoder) confirm(n *yaml.Node, what string) *ConfirmStep {
	cs := &ConfirmStep{}
	m := Format.Kinds[KindConfirm]
	for _, f := range d.fields(n, what, m.Names()) {
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "targets":
			cs.Targets = v.(SetRef)
		case "action":
			s := v.(string)
			if k, _ := m.Key("action"); !contains(k.Enum, s) {
				d.at(posOf(f.value), "action must be %s, not %q", enumText(k.Enum), s)
			}
			cs.Action = s
		case "question":
			cs.Question = v.(string)
		}
	}
	d.requireTargets(n, cs.Targets, what)
	return cs
}

func (d *decoder) action(n *yaml.Node, kind, what string) *ActionStep {
	as := &ActionStep{MaxTargets: DefaultMaxTargets}
	m := Format.Kinds[kind]
	for _, f := range d.fields(n, what, m.Names()) {
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "targets":
			as.Targets = v.(SetRef)
		case "max_targets":
			as.MaxTargets = v.(int)
		case "backend_types":
			as.BackendTypes = v.([]string)
		case "timeout":
			as.Timeout = v.(time.Duration)
		}
	}
	d.requireTargets(n, as.Targets, what)
	return as
}

func (d *decoder) wait(n *yaml.Node, what string) *WaitStep {
	ws := &WaitStep{}
	m := Format.Kinds[KindWait]
	// Short form: `wait: 5s`.
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if v, ok := d.value(Key{Name: KindWait, Type: m.Short}, n); ok {
			ws.For = v.(time.Duration)
		}
		return ws
	}
	var hasFor, hasTimeout bool
	for _, f := range d.fields(n, what, m.Names()) {
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "for":
			ws.For, hasFor = v.(time.Duration), true
		case "until":
			ws.Until = v.(*Expr)
		case "timeout":
			ws.Timeout, hasTimeout = v.(time.Duration), true
		}
	}
	if n.Kind != yaml.MappingNode {
		return ws
	}
	switch {
	case hasFor && ws.Until != nil:
		d.at(posOf(n), "%s: give either for (a fixed time) or until (a condition), not both", what)
	case !hasFor && ws.Until == nil && !hasKey(n, "for") && !hasKey(n, "until"):
		d.at(posOf(n), "%s needs for: DURATION or until: EXPRESSION", what)
	case hasTimeout && ws.Until == nil:
		d.at(posOf(n), "%s: timeout applies only to until", what)
	}
	if ws.Until != nil && ws.Timeout == 0 {
		ws.Timeout = 30 * time.Second
	}
	return ws
}

func (d *decoder) verify(n *yaml.Node, what string) *VerifyStep {
	vs := &VerifyStep{Timeout: DefaultVerifyTimeout}
	m := Format.Kinds[KindVerify]
	for _, f := range d.fields(n, what, m.Names()) {
		if f.key == "expect" {
			// Expect is a keyword or, otherwise, an expression.
			if s, ok := d.str(f.value, "expect"); ok {
				vs.Expect = s
				if k, _ := m.Key("expect"); !contains(k.Enum, s) {
					vs.Condition = d.expression(f.value, "expect")
				}
			}
			continue
		}
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "targets":
			vs.Targets = v.(SetRef)
		case "timeout":
			vs.Timeout = v.(time.Duration)
		}
	}
	d.requireTargets(n, vs.Targets, what)
	if n.Kind == yaml.MappingNode && vs.Expect == "" && !hasKey(n, "expect") {
		d.at(posOf(n), "%s needs expect: query_stopped, gone, or an expression over each session", what)
	}
	return vs
}

func (d *decoder) note(n *yaml.Node, what string) *NoteStep {
	m := Format.Kinds[KindNote]
	// Short form: `note: text`.
	if n.Kind == yaml.ScalarNode {
		s, _ := d.str(n, KindNote)
		return &NoteStep{Text: s}
	}
	ns := &NoteStep{}
	for _, f := range d.fields(n, what, m.Names()) {
		if v, ok := d.read(m, f); ok {
			ns.Text = v.(string)
		}
	}
	return ns
}

func (d *decoder) activity(n *yaml.Node, what string) *ActivityStep {
	as := &ActivityStep{Samples: 1, Interval: DefaultSampleInterval, HostInterval: DefaultHostInterval}
	if isNull(n) {
		return as
	}
	m := Format.Kinds[KindActivity]
	var hasInterval, hasHostInterval bool
	for _, f := range d.fields(n, what, m.Names()) {
		v, ok := d.read(m, f)
		if !ok {
			continue
		}
		switch f.key {
		case "samples":
			as.Samples = v.(int)
		case "interval":
			as.Interval, hasInterval = v.(time.Duration), true
			if as.Interval == 0 {
				d.at(posOf(f.value), "%s: interval must be above 0 (the samples must be apart for a session to be seen twice)", what)
			}
		case "stable":
			as.Stable = v.(*Expr)
		case "host_stats":
			as.HostStats = v.(bool)
		case "host_interval":
			as.HostInterval, hasHostInterval = v.(time.Duration), true
			if as.HostInterval == 0 {
				d.at(posOf(f.value), "%s: host_interval must be above 0 (CPU and I/O rates are measured over it)", what)
			}
		}
	}
	if n.Kind != yaml.MappingNode {
		return as
	}
	if hasInterval && as.Samples < 2 {
		d.at(posOf(n), "%s: interval applies only to samples above 1 (add samples: 3, or remove interval)", what)
	}
	if hasHostInterval && !as.HostStats {
		d.at(posOf(n), "%s: host_interval applies only with host_stats: true", what)
	}
	return as
}

func (d *decoder) summarize(n *yaml.Node, what, id string) *SummarizeStep {
	ss := &SummarizeStep{}
	if !isNull(n) {
		m := Format.Kinds[KindSummarize]
		for _, f := range d.fields(n, what, m.Names()) {
			if f.key == "by" {
				ss.By = d.summaryBy(f.value, what)
				continue
			}
			v, ok := d.read(m, f)
			if !ok {
				continue
			}
			switch f.key {
			case "from":
				ss.From = v.(SetRef)
			case "top":
				ss.Top = v.(int)
			}
		}
	}
	if ss.By == nil {
		ss.By = append([]string(nil), DefaultSummaryBy...)
	}
	ss.prepare(id)
	return ss
}

// summaryBy reads the fields a summarize step groups by: row fields that
// make keys, each once.
func (d *decoder) summaryBy(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		d.at(posOf(n), "%s: by must be a list of row fields, such as [application_name, usename], not %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.at(posOf(n), "%s: by is empty: name at least one row field, or leave by out for %s", what, strings.Join(DefaultSummaryBy, ", "))
		return nil
	}
	out := []string{}
	for _, item := range n.Content {
		s, ok := d.str(item, "by item")
		if !ok {
			continue
		}
		switch {
		case !contains(rowFieldNames, s):
			d.at(posOf(item), "by: %q is not a row field%s", s, suggest(s, GroupableFields()))
		case !groupable(s):
			d.at(posOf(item), "by: %s cannot group sessions (durations, times and lists make no groups); group by one of %s", s, strings.Join(GroupableFields(), ", "))
		case contains(out, s):
			d.at(posOf(item), "by: %s is named twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}
