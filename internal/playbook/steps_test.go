package playbook

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// TestNewStepSyntaxLoads: the forms the incident library uses.
func TestNewStepSyntaxLoads(t *testing.T) {
	pb := mustParse(t, `name: x
unprotect: [backups]
steps:
  - id: roots
    activity: {samples: 3, interval: 500ms, stable: is_root_blocker, host_stats: true, host_interval: 250ms}
  - id: snap
    activity:
  - id: apps
    summarize: {by: [application_name, query_id], top: 3}
  - id: who
    summarize:
  - id: holders
    horizon:
  - id: big
    if: len(apps) > 0 && apps[0].count > 10 && apps[0].query_id != 0 && len(holders.slots) == 0
    filter: {where: 'application_name == apps[0].application_name'}
  - id: idle
    terminate: {targets: big, timeout: 5s}
`)
	a := pb.Steps[0].Activity
	if a.Samples != 3 || a.Interval != 500*time.Millisecond || a.Stable == nil || !a.HostStats || a.HostInterval != 250*time.Millisecond || !a.Multi() {
		t.Errorf("activity %+v", a)
	}
	if p := pb.Steps[1].Activity; p.Samples != 1 || p.Multi() || p.Interval != DefaultSampleInterval || p.HostInterval != DefaultHostInterval {
		t.Errorf("plain activity %+v", p)
	}
	if s := pb.Steps[2].Summarize; s.From.Step != "snap" || !slices.Equal(s.By, []string{"application_name", "query_id"}) || s.Top != 3 {
		t.Errorf("summarize %+v", s)
	}
	if s := pb.Steps[3].Summarize; !slices.Equal(s.By, DefaultSummaryBy) || s.Top != 0 {
		t.Errorf("default summarize %+v", s)
	}
	if pb.Steps[4].Horizon == nil {
		t.Error("horizon step not decoded")
	}
	if tm := pb.Steps[6].Action; tm.Timeout != 5*time.Second {
		t.Errorf("terminate timeout %v", tm.Timeout)
	}
	if !slices.Equal(pb.Unprotect, []string{"backups"}) {
		t.Errorf("unprotect %v", pb.Unprotect)
	}
	var names []string
	for _, d := range pb.Defaults() {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"replication", "monitoring", "provider"}) {
		t.Errorf("defaults in force %v", names)
	}
	if err := pb.CheckServer(130000); err == nil || !strings.Contains(err.Error(), "query_id (line 8) needs PostgreSQL 14") {
		t.Errorf("grouping by query_id on PostgreSQL 13: %v", err)
	}
	if got := pb.Steps[0].DisplayTitle(); got != "Take 3 snapshots of pg_stat_activity, 500ms apart" {
		t.Errorf("title %q", got)
	}
}

// TestNewStepSyntaxErrors: each mistake is reported at its line and
// column, with a suggestion where one is likely.
func TestNewStepSyntaxErrors(t *testing.T) {
	head := "name: x\nsteps:\n  - id: snap\n    activity:\n"
	cases := []struct {
		src, want string
	}{
		{"name: x\nunprotect: [backup]\nsteps: [{activity: }]\n", `bad.yaml:2:13: unprotect: unknown default protection "backup" (did you mean "backups"?) (defaults: backups, replication, monitoring, provider)`},
		{"name: x\nunprotect: backups\nsteps: [{activity: }]\n", `bad.yaml:2:12: unprotect must be a list of default protections (backups, replication, monitoring, provider), not "backups"`},
		{"name: x\nunprotect: [monitoring, monitoring]\nsteps: [{activity: }]\n", `bad.yaml:2:25: unprotect: monitoring is named twice`},
		{head + "  - summarize: {by: [aplication_name]}\n", `bad.yaml:5:22: by: "aplication_name" is not a row field (did you mean "application_name"?)`},
		{head + "  - summarize: {by: [query_runtime]}\n", `bad.yaml:5:22: by: query_runtime cannot group sessions`},
		{head + "  - summarize: {by: []}\n", `bad.yaml:5:21: step 2 (summarize): by is empty`},
		{head + "  - summarize: {by: [state, state]}\n", `bad.yaml:5:29: by: state is named twice`},
		{head + "  - summarize: {top: 0}\n", `bad.yaml:5:22: top must be at least 1`},
		{head + "  - summarize: {from: nope}\n", `bad.yaml:5:23: from "nope": no earlier step has id "nope"`},
		{"name: x\nsteps:\n  - summarize:\n", `bad.yaml:3:5: step 1 (summarize) has no from: and no activity step comes before it`},
		{head + "  - id: g\n    summarize:\n  - cancel: {targets: g}\n", `bad.yaml:7:23: targets "g": a summarize step produces groups, not sessions; filter the sessions of a group instead (where: application_name == g[0].application_name)`},
		{head + "  - id: h\n    horizon:\n  - cancel: {targets: h}\n", `bad.yaml:7:23: targets "h": a horizon step produces slots, prepared transactions and standbys, not sessions`},
		{head + "  - horizon: {slots: true}\n", `bad.yaml:5:15: step 2 (horizon) takes no keys: write ` + "`horizon:`" + ` alone`},
		{head + "  - id: g\n    summarize: {by: [application_name]}\n  - if: g[0].usenme == \"x\"\n    note: n\n", `bad.yaml:7:14: a group of summarize step g has no field usenme (its fields: application_name, count, pids)`},
		{head + "  - id: h\n    horizon:\n  - if: len(h.slot) > 0\n    note: n\n", `bad.yaml:7:15: a horizon result has no field slot (did you mean "slots"?)`},
		{head + "  - id: h\n    horizon:\n  - if: any(h.prepared, .age > 1)\n    note: n\n", `a prepared transaction has no field age`},
		{"name: x\nsteps:\n  - activity: {interval: 2s}\n", `bad.yaml:3:15: step 1 (activity): interval applies only to samples above 1`},
		{"name: x\nsteps:\n  - activity: {samples: 0}\n", `bad.yaml:3:25: samples must be at least 1`},
		{"name: x\nsteps:\n  - activity: {samples: 2, interval: 0s}\n", `bad.yaml:3:38: step 1 (activity): interval must be above 0`},
		{"name: x\nsteps:\n  - activity: {samples: 2, interval: 2}\n", `bad.yaml:3:38: interval needs a unit`},
		{"name: x\nsteps:\n  - activity: {host_interval: 1s}\n", `bad.yaml:3:15: step 1 (activity): host_interval applies only with host_stats: true`},
		{"name: x\nsteps:\n  - activity: {stable: query_runtime}\n", `bad.yaml:3:24: this expression must be true or false, but it gives duration`},
		{"name: x\nsteps:\n  - activity: {samples: 2, stabel: is_root_blocker}\n", `bad.yaml:3:28: unknown key "stabel" in step 1 (activity) (did you mean "stable"?)`},
		{head + "  - id: f\n    filter: {where: 'true'}\n  - cancel: {targets: f, timeout: 5s}\n", `bad.yaml:7:26: unknown key "timeout" in step 3 (cancel) (known keys: targets, max_targets, backend_types)`},
		{head + "  - id: f\n    filter: {where: 'true'}\n  - terminate: {targets: f, timeout: soon}\n", `bad.yaml:7:38: timeout must be a duration`},
		{"name: x\nsteps:\n  - summariz:\n      by: [state]\n", `bad.yaml:3:5: unknown step kind "summariz" (did you mean "summarize"?)`},
	}
	for _, c := range cases {
		if _, err := Parse("bad.yaml", []byte(c.src)); err == nil {
			t.Errorf("loads:\n%s", c.src)
			continue
		}
		list := parseErrors(t, c.src)
		if !strings.Contains(list.Error(), c.want) {
			t.Errorf("%s\ngot:\n%s\nwant: %s", c.src, list.Detailed(), c.want)
		}
	}
}

// TestSummarizeGroups: groups by value, largest first, ties by key, top
// cuts the list; the typed value has the by fields, count and pids.
func TestSummarizeGroups(t *testing.T) {
	pb := mustParse(t, "name: x\nsteps:\n  - activity:\n  - id: g\n    summarize: {by: [usename, client_port, is_self], top: 2}\n")
	s := pb.Steps[1].Summarize
	rows := []activity.Session{
		{PID: 1, Usename: "b", ClientPort: 5},
		{PID: 2, Usename: "a", ClientPort: 5},
		{PID: 3, Usename: "b", ClientPort: 5},
		{PID: 4, Usename: "c", ClientPort: 6, IsSelf: true},
	}
	groups, total := s.Groups(rows)
	if total != 3 || len(groups) != 2 {
		t.Fatalf("%d of %d groups", len(groups), total)
	}
	if !slices.Equal(groups[0].Key(), []string{"b", "5", "false"}) || groups[0].Count != 2 || !slices.Equal(groups[0].PIDs, []int{1, 3}) {
		t.Errorf("first group %+v", groups[0])
	}
	if !slices.Equal(groups[1].Key(), []string{"a", "5", "false"}) {
		t.Errorf("ties are not ordered by key: %+v", groups[1])
	}
	v := reflect.ValueOf(s.Value(groups))
	if v.Len() != 2 || v.Index(0).Field(0).String() != "b" || v.Index(0).Field(1).Int() != 5 || v.Index(0).Field(3).Int() != 2 {
		t.Errorf("value %#v", s.Value(groups))
	}
	cond := mustParse(t, "name: x\nsteps:\n  - activity:\n  - id: g\n    summarize: {by: [usename]}\n  - if: len(g) == 0\n    note: none\n")
	sc := cond.NewScope(nil)
	if ok, err := sc.Condition(cond.Steps[2].If); err != nil || !ok {
		t.Errorf("an unrun summarize step reads as no groups: %v, %v", ok, err)
	}
	sc.Put("g", cond.Steps[1].Summarize.Value([]Group{{Values: []any{"x"}, Count: 1, PIDs: []int{9}}}))
	if ok, _ := sc.Condition(cond.Steps[2].If); ok {
		t.Error("one group reads as none")
	}
}

func TestDefaultProtectionsMatch(t *testing.T) {
	cases := []struct {
		s    activity.Session
		name string
		hit  string
	}{
		{activity.Session{ApplicationName: "pg_dump"}, "backups", "application_name pg_dump"},
		{activity.Session{ApplicationName: "PG_BASEBACKUP"}, "backups", "application_name PG_BASEBACKUP"},
		{activity.Session{ApplicationName: "barman_receive_wal"}, "backups", "application_name barman_receive_wal"},
		{activity.Session{ApplicationName: "wal-g backup-push"}, "backups", "application_name wal-g backup-push"},
		{activity.Session{BackendType: "walsender", ApplicationName: "replica1"}, "replication", "backend_type walsender"},
		{activity.Session{BackendType: "logical replication apply worker"}, "replication", "backend_type logical replication apply worker"},
		{activity.Session{ApplicationName: "pg_recvlogical"}, "replication", "application_name pg_recvlogical"},
		{activity.Session{ApplicationName: "datadog-agent"}, "monitoring", "application_name datadog-agent"},
		{activity.Session{ApplicationName: "pgwatch2"}, "monitoring", "application_name pgwatch2"},
		{activity.Session{ApplicationName: "web"}, "", ""},
		{activity.Session{ApplicationName: "dump"}, "", ""},
		{activity.Session{}, "", ""},
	}
	for _, c := range cases {
		name, hit := "", ""
		for i := range DefaultProtections {
			if m, ok := DefaultProtections[i].Match(&c.s); ok {
				name, hit = DefaultProtections[i].Name, m
				break
			}
		}
		if name != c.name || hit != c.hit {
			t.Errorf("%+v: matched %q (%q), want %q (%q)", c.s, name, hit, c.name, c.hit)
		}
	}
	d := DefaultProtections[0]
	if got := d.Reason("application_name pg_dump"); got != "protected by default: backups (application_name pg_dump)" {
		t.Errorf("reason %q", got)
	}
}
