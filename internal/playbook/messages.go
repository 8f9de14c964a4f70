package playbook

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// namedTypes are the Go types expressions can meet, with what a playbook
// author calls them. The compiler names the Go type; messages name these.
var namedTypes = []struct {
	goName, name string
	typ          reflect.Type
}{
	{"[]activity.ReplicationSlot", "replication slots", nil},
	{"[]activity.PreparedXact", "prepared transactions", nil},
	{"[]activity.Standby", "standbys", nil},
	{"[]activity.Session", "target set", nil},
	{"activity.Horizon", "horizon result", reflect.TypeOf(activity.Horizon{})},
	{"activity.ReplicationSlot", "replication slot", reflect.TypeOf(activity.ReplicationSlot{})},
	{"activity.PreparedXact", "prepared transaction", reflect.TypeOf(activity.PreparedXact{})},
	{"activity.Standby", "standby", reflect.TypeOf(activity.Standby{})},
	{"activity.Server", "server", reflect.TypeOf(activity.Server{})},
	{"activity.Session", "session", reflect.TypeOf(activity.Session{})},
	{"playbook.VerifySets", "verify result", reflect.TypeOf(VerifySets{})},
	{"playbook.ActionSets", "action result", reflect.TypeOf(ActionSets{})},
	{"time.Duration", "duration", nil},
	{"time.Time", "timestamp", nil},
}

// groupType matches the compiler's text for a summarize step's group
// type (a struct whose count field carries the step's id in a tag),
// optionally as a list.
var groupType = regexp.MustCompile(`(\[\])?struct \{[^{}]*summary:\\"([a-z0-9_]+)\\"[^{}]*\}`)

// exprTag matches the expr tags in the compiler's text for a struct.
var exprTag = regexp.MustCompile(`expr:\\"([a-z0-9_]+)\\"`)

// friendlyExprMessage rewrites the compiler's wording where it would show
// Go types a playbook author never wrote.
func friendlyExprMessage(msg string) string {
	if field, ok := strings.CutPrefix(msg, "type "); ok {
		if typ, name, ok := strings.Cut(field, " has no field "); ok {
			if m := groupType.FindStringSubmatch(typ); m != nil && m[1] == "" {
				fields := tagsIn(typ)
				return fmt.Sprintf("a group of summarize step %s has no field %s%s (its fields: %s)", m[2], name, suggest(name, fields), strings.Join(fields, ", "))
			}
			if strings.HasPrefix(typ, "struct {") {
				return "unknown parameter " + name + " (parameters are declared under params:)"
			}
			for _, nt := range namedTypes {
				if nt.goName == typ && nt.typ != nil {
					fields := exprFields(nt.typ)
					return fmt.Sprintf("a %s has no field %s%s (its fields: %s)", nt.name, name, suggest(name, fields), strings.Join(fields, ", "))
				}
			}
		}
	}
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		if hint := suggest(name, append(RowFields(), nameParams, nameRows, nameServer)); hint != "" {
			return msg + hint
		}
		return msg + ": not a row field, params, or the id of an earlier step"
	}
	msg = groupType.ReplaceAllStringFunc(msg, func(s string) string {
		m := groupType.FindStringSubmatch(s)
		if m[1] != "" {
			return "groups of summarize step " + m[2]
		}
		return "group of summarize step " + m[2]
	})
	if typ, ok := strings.CutPrefix(msg, "expected bool, but got "); ok {
		return "this expression must be true or false, but it gives " + typeName(typ)
	}
	for _, nt := range namedTypes {
		msg = strings.ReplaceAll(msg, nt.goName, nt.name)
	}
	return msg
}

func typeName(goName string) string {
	for _, nt := range namedTypes {
		goName = strings.ReplaceAll(goName, nt.goName, nt.name)
	}
	return goName
}

// tagsIn lists the expr tags of a struct as the compiler prints it.
func tagsIn(typ string) []string {
	var out []string
	for _, m := range exprTag.FindAllStringSubmatch(typ, -1) {
		out = append(out, m[1])
	}
	return out
}

// exprFields lists the names expressions use for a struct's fields.
func exprFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}
