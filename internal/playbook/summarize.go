package playbook

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// SummarizeStep groups the sessions of a set by some of their fields and
// counts them, largest group first. Expressions see the step's id as the
// list of groups: each has the by fields under their own names, count
// (how many sessions) and pids (theirs), so `apps[0].count` and
// `apps[0].application_name` type-check when by names application_name.
type SummarizeStep struct {
	From SetRef
	// By are the row fields the sessions are grouped by.
	By []string
	// Top, when positive, keeps only that many groups, the largest.
	Top int

	fields    []int        // the By fields' indexes in activity.Session
	groupType reflect.Type // the struct expressions see for one group
}

// DefaultSummaryBy is what a summarize step groups by when it says
// nothing: who is connected, from where, doing what.
var DefaultSummaryBy = []string{"application_name", "usename", "client_addr", "state"}

// sessionFields maps each row field name to its index in activity.Session.
var sessionFields = func() map[string]int {
	t := reflect.TypeOf(activity.Session{})
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}()

// groupable reports whether a row field can be a grouping key: text,
// whole numbers and booleans compare as keys; durations, times and lists
// do not make groups anyone could act on.
func groupable(field string) bool {
	i, ok := sessionFields[field]
	if !ok {
		return false
	}
	t := reflect.TypeOf(activity.Session{}).Field(i).Type
	if t.PkgPath() != "" {
		return false // time.Duration is an int64, but not a key
	}
	switch t.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Bool:
		return true
	}
	return false
}

// GroupableFields lists the row fields a summarize step may group by.
func GroupableFields() []string {
	var out []string
	for _, f := range rowFieldNames {
		if groupable(f) {
			out = append(out, f)
		}
	}
	return out
}

// Names of a group's own fields, besides the by fields.
const (
	groupCount = "count"
	groupPIDs  = "pids"
)

// prepare builds the group type once By is known; id names the step in
// the type's tags, so that compiler messages about it can be reworded.
func (s *SummarizeStep) prepare(id string) {
	s.fields = make([]int, len(s.By))
	t := reflect.TypeOf(activity.Session{})
	fields := make([]reflect.StructField, 0, len(s.By)+2)
	for i, name := range s.By {
		s.fields[i] = sessionFields[name]
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: t.Field(s.fields[i]).Type,
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q json:%q`, name, name)),
		})
	}
	fields = append(fields,
		reflect.StructField{Name: "Count", Type: reflect.TypeOf(0), Tag: reflect.StructTag(fmt.Sprintf(`expr:"count" json:"count" summary:%q`, id))},
		reflect.StructField{Name: "PIDs", Type: reflect.TypeOf([]int(nil)), Tag: `expr:"pids" json:"pids"`},
	)
	s.groupType = reflect.StructOf(fields)
}

// Group is one group of a summarize step.
type Group struct {
	// Values are the group's values of the By fields, in order.
	Values []any
	// Count is how many sessions the group has; PIDs are theirs.
	Count int
	PIDs  []int
}

// Key returns the group's By values as text, in order ("" for null).
func (g *Group) Key() []string {
	out := make([]string, len(g.Values))
	for i, v := range g.Values {
		out[i] = valueText(v)
	}
	return out
}

func valueText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// Groups groups rows by the step's fields: largest group first, then by
// key, with at most Top groups. total is how many groups there were
// before Top cut the list.
func (s *SummarizeStep) Groups(rows []activity.Session) (groups []Group, total int) {
	index := map[string]int{}
	for i := range rows {
		v := reflect.ValueOf(&rows[i]).Elem()
		vals := make([]any, len(s.fields))
		for j, f := range s.fields {
			vals[j] = v.Field(f).Interface()
		}
		g := Group{Values: vals}
		key := strings.Join(g.Key(), "\x00")
		k, ok := index[key]
		if !ok {
			k = len(groups)
			index[key] = k
			groups = append(groups, g)
		}
		groups[k].Count++
		groups[k].PIDs = append(groups[k].PIDs, rows[i].PID)
	}
	slices.SortStableFunc(groups, func(a, b Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return slices.Compare(a.Key(), b.Key())
	})
	total = len(groups)
	if s.Top > 0 && len(groups) > s.Top {
		groups = groups[:s.Top]
	}
	return groups, total
}

// Value is what expressions see for the groups: a list of the step's
// group type.
func (s *SummarizeStep) Value(groups []Group) any {
	out := reflect.MakeSlice(reflect.SliceOf(s.groupType), len(groups), len(groups))
	for i, g := range groups {
		e := out.Index(i)
		for j, v := range g.Values {
			e.Field(j).Set(reflect.ValueOf(v))
		}
		e.Field(len(g.Values)).SetInt(int64(g.Count))
		e.Field(len(g.Values) + 1).Set(reflect.ValueOf(slices.Clone(g.PIDs)))
	}
	return out.Interface()
}

// empty is the value of a summarize step that has not run: no groups.
func (s *SummarizeStep) empty() any { return s.Value(nil) }
