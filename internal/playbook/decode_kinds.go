package playbook

import (
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoders of the step kinds. Each reads its mapping by the keys and
// types Format gives it (d.keys), and adds only what a type cannot say:
// required keys, keys that go together, defaults.

// kindDecoder decodes the value n of a step's kind, whose keys are m's,
// into st. what names the step in messages.
type kindDecoder func(d *decoder, st *Step, n *yaml.Node, m Mapping, what string)

// kindDecoders has a decoder for every kind of Format.Kinds (a test
// checks that the two have the same kinds); the step decoder looks the
// kind's mapping up in Format and hands it to its decoder.
var kindDecoders = map[string]kindDecoder{
	KindActivity:  (*decoder).activity,
	KindFilter:    (*decoder).filter,
	KindSummarize: (*decoder).summarize,
	KindHorizon:   (*decoder).horizon,
	KindConfirm:   (*decoder).confirm,
	KindCancel:    (*decoder).action,
	KindTerminate: (*decoder).action,
	KindWait:      (*decoder).wait,
	KindVerify:    (*decoder).verify,
	KindNote:      (*decoder).note,
}

func (d *decoder) filter(st *Step, n *yaml.Node, m Mapping, what string) {
	fs := &FilterStep{}
	st.Filter = fs
	d.keys(n, what, m, func(f field, v any) {
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
	})
	if n.Kind == yaml.MappingNode && fs.Where == nil && !hasKey(n, "where") {
		d.at(posOf(n), "%s needs where: an expression that is true for the sessions to keep", what)
	}
}

func (d *decoder) requireTargets(n *yaml.Node, ref SetRef, what string) {
	if n.Kind == yaml.MappingNode && ref.Step == "" && !hasKey(n, "targets") {
		d.at(posOf(n), "%s needs targets: the id of the step whose sessions it acts on", what)
	}
}

func (d *decoder) horizon(st *Step, n *yaml.Node, m Mapping, what string) {
	st.Horizon = &HorizonStep{}
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		d.at(posOf(n.Content[0]), "%s takes no keys: write `horizon:` alone", what)
	} else if !isNull(n) {
		d.fields(n, what, m.Names())
	}
}

func (d *decoder) confirm(st *Step, n *yaml.Node, m Mapping, what string) {
	cs := &ConfirmStep{}
	st.Confirm = cs
	d.keys(n, what, m, func(f field, v any) {
		switch f.key {
		case "targets":
			cs.Targets = v.(SetRef)
		case "action":
			s := v.(string)
			if k, _ := m.Key("action"); !slices.Contains(k.Enum, s) {
				d.at(posOf(f.value), "action must be %s, not %q", enumText(k.Enum), s)
			}
			cs.Action = s
		case "question":
			cs.Question = v.(string)
		}
	})
	d.requireTargets(n, cs.Targets, what)
}

// action decodes cancel and terminate.
func (d *decoder) action(st *Step, n *yaml.Node, m Mapping, what string) {
	as := &ActionStep{MaxTargets: DefaultMaxTargets}
	st.Action = as
	d.keys(n, what, m, func(f field, v any) {
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
	})
	d.requireTargets(n, as.Targets, what)
}

func (d *decoder) wait(st *Step, n *yaml.Node, m Mapping, what string) {
	ws := &WaitStep{}
	st.Wait = ws
	// Short form: `wait: 5s`.
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		if v, ok := d.value(Key{Name: KindWait, Type: m.Short}, n); ok {
			ws.For = v.(time.Duration)
		}
		return
	}
	var hasFor, hasTimeout bool
	d.keys(n, what, m, func(f field, v any) {
		switch f.key {
		case "for":
			ws.For, hasFor = v.(time.Duration), true
		case "until":
			ws.Until = v.(*Expr)
		case "timeout":
			ws.Timeout, hasTimeout = v.(time.Duration), true
		}
	})
	if n.Kind != yaml.MappingNode {
		return
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
}

func (d *decoder) verify(st *Step, n *yaml.Node, m Mapping, what string) {
	vs := &VerifyStep{Timeout: DefaultVerifyTimeout}
	st.Verify = vs
	d.keys(n, what, m, func(f field, v any) {
		switch f.key {
		case "expect":
			// Expect is a keyword or, otherwise, an expression.
			if s, ok := d.str(f.value, "expect"); ok {
				vs.Expect = s
				if k, _ := m.Key("expect"); !slices.Contains(k.Enum, s) {
					vs.Condition = d.expression(f.value, "expect")
				}
			}
		case "targets":
			vs.Targets = v.(SetRef)
		case "timeout":
			vs.Timeout = v.(time.Duration)
		}
	}, "expect")
	d.requireTargets(n, vs.Targets, what)
	if n.Kind == yaml.MappingNode && vs.Expect == "" && !hasKey(n, "expect") {
		d.at(posOf(n), "%s needs expect: query_stopped, gone, or an expression over each session", what)
	}
}

func (d *decoder) note(st *Step, n *yaml.Node, m Mapping, what string) {
	ns := &NoteStep{}
	st.Note = ns
	// Short form: `note: text`.
	if n.Kind == yaml.ScalarNode {
		ns.Text, _ = d.str(n, KindNote)
		return
	}
	d.keys(n, what, m, func(f field, v any) { ns.Text = v.(string) })
}

func (d *decoder) activity(st *Step, n *yaml.Node, m Mapping, what string) {
	as := &ActivityStep{Samples: 1, Interval: DefaultSampleInterval, HostInterval: DefaultHostInterval}
	st.Activity = as
	if isNull(n) {
		return
	}
	var hasInterval, hasHostInterval bool
	d.keys(n, what, m, func(f field, v any) {
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
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if hasInterval && as.Samples < 2 {
		d.at(posOf(n), "%s: interval applies only to samples above 1 (add samples: 3, or remove interval)", what)
	}
	if hasHostInterval && !as.HostStats {
		d.at(posOf(n), "%s: host_interval applies only with host_stats: true", what)
	}
}

func (d *decoder) summarize(st *Step, n *yaml.Node, m Mapping, what string) {
	ss := &SummarizeStep{}
	st.Summarize = ss
	if !isNull(n) {
		d.keys(n, what, m, func(f field, v any) {
			switch f.key {
			case "by":
				ss.By = d.summaryBy(f.value, what)
			case "from":
				ss.From = v.(SetRef)
			case "top":
				ss.Top = v.(int)
			}
		}, "by")
	}
	if ss.By == nil {
		ss.By = append([]string(nil), DefaultSummaryBy...)
	}
	ss.prepare(st.ID)
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
		case !slices.Contains(rowFieldNames, s):
			d.at(posOf(item), "by: %q is not a row field%s", s, suggest(s, GroupableFields()))
		case !groupable(s):
			d.at(posOf(item), "by: %s cannot group sessions (durations, times and lists make no groups); group by one of %s", s, strings.Join(GroupableFields(), ", "))
		case slices.Contains(out, s):
			d.at(posOf(item), "by: %s is named twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}
