package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/position"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// FuzzParse feeds the loader arbitrary documents, seeded with the shipped
// playbooks and the good and bad catalogues in testdata. The loader must
// never panic, and must either return a playbook or a position.List whose
// every entry has a file and a message.
func FuzzParse(f *testing.F) {
	for _, name := range playbooks.Names() {
		src, _ := playbooks.Source(name)
		f.Add(src)
	}
	for _, pattern := range []string{"../../testdata/playbooks/*/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("fuzz.yaml", data)
		if err == nil {
			if pb == nil || pb.Name == "" {
				t.Fatalf("no error but no playbook name: %+v", pb)
			}
			return
		}
		var list position.List
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not a non-empty position.List: %v", err)
		}
		for _, e := range list {
			if e.File != "fuzz.yaml" || e.Message == "" {
				t.Fatalf("malformed error %+v", e)
			}
			_ = e.Detailed()
		}
	})
}

// FuzzExpression compiles arbitrary text as a filter expression inside a
// fixed playbook, seeded with every expression of the shipped playbooks
// and some broken ones. Compilation must never panic; a compiled filter
// must evaluate on a zero row without panicking.
func FuzzExpression(f *testing.F) {
	for _, name := range playbooks.Names() {
		src, _ := playbooks.Source(name)
		pb, err := Parse(name, src)
		if err != nil {
			f.Fatal(err)
		}
		for _, st := range pb.Steps {
			if st.Filter != nil {
				f.Add(st.Filter.Where.Source)
			}
			if st.If != nil {
				f.Add(st.If.Source)
			}
		}
	}
	for _, s := range []string{`pid ==`, `query_runtime > duration("5m")`, `"a" + 1`, `any(blocked_by, # > 0)`, `params.x`, `len(snap) > 0 ? true : false`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		doc := "name: fuzz\nparams:\n  min: {type: duration, default: 1m}\nsteps:\n  - id: snap\n    activity:\n  - id: f\n    filter:\n      where: " + strconv.Quote(expr) + "\n"
		pb, err := Parse("fuzz.yaml", []byte(doc))
		if err != nil {
			var list position.List
			if !errors.As(err, &list) {
				t.Fatalf("not a position.List: %v", err)
			}
			return
		}
		vals, err := pb.Resolve(nil)
		if err != nil {
			t.Fatal(err)
		}
		ev := pb.NewScope(vals).RowEvaluator()
		_, _ = ev.Bool(pb.Steps[1].Filter.Where, &activity.Session{})
	})
}
