package playbook

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Every expr-tagged field of activity.Session is in rowFieldTable, under
// its tag, read from that field.
func TestRowFieldTableIsComplete(t *testing.T) {
	var names []string
	for _, f := range rowFieldTable {
		names = append(names, f.name)
	}
	if !slices.Equal(names, rowFieldNames) {
		t.Fatalf("rowFieldTable names\n%v\nwant the expr tags of activity.Session in order\n%v", names, rowFieldNames)
	}
	// Each getter reads its own field: give every field a distinct value
	// and compare.
	var s activity.Session
	v := reflect.ValueOf(&s).Elem()
	st := v.Type()
	want := map[string]any{}
	for i := range st.NumField() {
		tag := st.Field(i).Tag.Get("expr")
		if tag == "" || tag == "-" {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeOf(time.Duration(0)) {
				f.SetInt(int64(i) * int64(time.Second))
			} else {
				f.SetInt(int64(1000 + i))
			}
		case reflect.String:
			f.SetString(tag + "-value")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Int {
				f.Set(reflect.ValueOf([]int{i}))
			}
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(time.Time{}) {
				f.Set(reflect.ValueOf(time.Unix(int64(i), 0)))
			}
		}
		want[tag] = f.Interface()
	}
	for _, f := range rowFieldTable {
		if got := f.get(&s); !reflect.DeepEqual(got, want[f.name]) {
			t.Errorf("field %s reads %v, want %v", f.name, got, want[f.name])
		}
	}
}

// A filter over rows sees the right values although only the fields its
// expression reads are written per row: one evaluator, two expressions
// that read different fields, rows that differ in both.
func TestRowEvaluatorWritesWhatEachExpressionReads(t *testing.T) {
	pb := mustParse(t, `name: t
steps:
  - id: a
    activity:
  - id: byapp
    filter:
      where: 'application_name == "app" && any(blocked_by, # == 7)'
  - id: bypid
    filter:
      where: pid > 100 && $env.state == "active"
`)
	byApp, byPID := pb.Steps[1].Filter.Where, pb.Steps[2].Filter.Where
	if got := rowFieldsOf(byApp.Program); len(got) != 2 || got[0].name != "application_name" || got[1].name != "blocked_by" {
		t.Errorf("fields of %q: %v, want application_name and blocked_by", byApp.Source, got)
	}
	if got := rowFieldsOf(byPID.Program); len(got) != len(rowFieldTable) {
		t.Errorf("an expression that reads $env gets %d fields, want all %d", len(got), len(rowFieldTable))
	}
	ev := pb.NewScope(nil).RowEvaluator()
	rows := []activity.Session{
		{PID: 50, ApplicationName: "app", BlockedBy: []int{7}, State: "active"},
		{PID: 200, ApplicationName: "other", BlockedBy: []int{}, State: "active"},
		{PID: 300, ApplicationName: "app", BlockedBy: []int{8}, State: "idle"},
	}
	for i, want := range [][2]bool{{true, false}, {false, true}, {false, false}} {
		a, err := ev.Bool(byApp, &rows[i])
		if err != nil {
			t.Fatal(err)
		}
		p, err := ev.Bool(byPID, &rows[i])
		if err != nil {
			t.Fatal(err)
		}
		if a != want[0] || p != want[1] {
			t.Errorf("row %d: byapp %v bypid %v, want %v %v", i, a, p, want[0], want[1])
		}
	}
}

// Forms the optimizer rewrites still name the row fields they read: a map
// of a filter is fused into one builtin whose mapping the tree walk did not
// visit. Evaluated after an expression that wrote the same field for
// another row, such an expression must see its own row's value.
func TestRowFieldsOfOptimizedForms(t *testing.T) {
	pb := mustParse(t, `name: t
steps:
  - id: a
    activity:
  - id: vip
    filter:
      where: usename == "vip"
  - id: byuser
    filter:
      where: 'any(map(filter(vip, .state == "active"), .usename == usename), #)'
  - id: firstuser
    filter:
      where: 'first(map(filter(vip, .pid > 0), .usename == usename)) ?? false'
  - id: reads
    filter:
      where: usename != ""
`)
	for _, i := range []int{2, 3} {
		e := pb.Steps[i].Filter.Where
		fields := rowFieldsOf(e.Program)
		if len(fields) != 1 || fields[0].name != "usename" {
			t.Errorf("fields of %q: %v, want usename", e.Source, fields)
		}
	}
	scope := pb.NewScope(nil)
	scope.Put("vip", []activity.Session{{PID: 1, Usename: "vip", State: "active"}})
	ev := scope.RowEvaluator()
	vipRow, appRow := activity.Session{PID: 1, Usename: "vip"}, activity.Session{PID: 2, Usename: "app"}
	for _, i := range []int{2, 3} {
		e := pb.Steps[i].Filter.Where
		if _, err := ev.Bool(pb.Steps[4].Filter.Where, &vipRow); err != nil {
			t.Fatal(err)
		}
		got, err := ev.Bool(e, &appRow)
		if err != nil || got {
			t.Errorf("%q on a row of user app, after a row of user vip: %v, %v; want false", e.Source, got, err)
		}
	}
}
