package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
)

var update = flag.Bool("update", false, "rewrite playbooks/schema.json")

const committed = "../../playbooks/schema.json"

// TestCommittedSchemaIsCurrent fails when playbooks/schema.json is not
// what Generate makes from the loader's table (run make golden).
func TestCommittedSchemaIsCurrent(t *testing.T) {
	got := JSON()
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (run make golden)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: the playbook format changed; run make golden and commit it", committed)
	}
}

// loadCommitted reads the committed schema, as an editor would.
func loadCommitted(t *testing.T) Object {
	t.Helper()
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var s Object
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func yamlDoc(t *testing.T, path string) (any, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	err = yaml.Unmarshal(data, &doc)
	return doc, err
}

func TestSchemaAcceptsEveryGoodPlaybook(t *testing.T) {
	s := loadCommitted(t)
	files, _ := filepath.Glob("../../playbooks/*.yaml")
	good, _ := filepath.Glob("../../testdata/playbooks/good/*.yaml")
	files = append(files, good...)
	var n int
	for _, f := range files {
		if playbooktest.IsTestFile(f) {
			continue
		}
		n++
		if _, err := playbook.Load(f); err != nil {
			t.Errorf("%s does not load: %v", f, err)
		}
		doc, err := yamlDoc(t, f)
		if err != nil {
			t.Fatal(err)
		}
		if problems := Validate(s, doc); len(problems) > 0 {
			t.Errorf("%s: the schema rejects a valid playbook: %v", f, problems)
		}
	}
	if n < 4 {
		t.Errorf("only %d playbooks checked", n)
	}
}

// badCatalogue classifies every file of testdata/playbooks/bad: a schema
// error the schema must reject, or why it is not one. A new file must be
// classified here.
var badCatalogue = map[string]string{
	"bad-duration.yaml":        "schema",
	"duplicate-id.yaml":        "schema", // the reserved id "params"; the duplicate id itself is beyond JSON Schema
	"missing-param-value.yaml": "schema",
	"unknown-key.yaml":         "schema",
	"unknown-step-kind.yaml":   "schema",
	"wrong-type.yaml":          "schema",
	"syntax-error.yaml":        "not YAML: nothing to check against a schema",
	"type-error.yaml":          "expression types: checked when expressions compile",
	"undefined-set.yaml":       "references between steps: checked by the loader",
	"unknown-field.yaml":       "names inside expressions: checked when expressions compile",
}

func TestSchemaRejectsTheBadCatalogue(t *testing.T) {
	s := loadCommitted(t)
	files, _ := filepath.Glob("../../testdata/playbooks/bad/*.yaml")
	if len(files) < len(badCatalogue) {
		t.Fatalf("%d bad files", len(files))
	}
	for _, f := range files {
		class, ok := badCatalogue[filepath.Base(f)]
		if !ok {
			t.Errorf("%s is not classified in badCatalogue: is it a schema error?", f)
			continue
		}
		if _, err := playbook.Load(f); err == nil {
			t.Errorf("%s loads", f)
		}
		doc, err := yamlDoc(t, f)
		if err != nil {
			if !strings.HasPrefix(class, "not YAML") {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		problems := Validate(s, doc)
		switch {
		case class == "schema" && len(problems) == 0:
			t.Errorf("%s: the schema accepts it", f)
		case class != "schema" && len(problems) > 0:
			t.Errorf("%s (%s): the schema rejects it: %v", f, class, problems)
		}
	}
}

// TestSchemaAgreesWithTheLoader runs small playbooks through both: each
// must be accepted by both or rejected by both.
func TestSchemaAgreesWithTheLoader(t *testing.T) {
	s := Generate()
	head := "name: p\nsteps:\n  - id: snap\n    activity:\n  - id: sel\n    filter: {where: 'state == \"active\"'}\n"
	cases := []string{
		head,
		head + "  - wait: 5s\n",
		head + "  - wait: 5\n",
		head + "  - wait: -5s\n",
		head + "  - wait: {for: 1m30s}\n",
		head + "  - wait: {until: 'len(rows) == 0', timeout: 10s}\n",
		head + "  - wait: {for: 1s, until: 'len(rows) == 0'}\n",
		head + "  - wait: {for: 1s, timeout: 2s}\n",
		head + "  - wait: {}\n",
		head + "  - note: hello\n",
		head + "  - note: {text: hello}\n",
		head + "  - note: {txt: hello}\n",
		head + "  - activity: {}\n",
		head + "  - activity: {x: 1}\n",
		head + "  - cancel: {targets: sel, max_targets: 0}\n",
		head + "  - cancel: {targets: sel, max_targets: 2, backend_types: [walsender]}\n",
		head + "  - cancel: {targets: sel, backend_types: walsender}\n",
		head + "  - confirm: {targets: sel, action: kill}\n",
		head + "  - confirm: {targets: sel, action: terminate, question: Sure}\n",
		head + "  - filter: {from: sel, where: 'pid > 0', descending: yes}\n",
		head + "  - filter: {from: sel, where: 'pid > 0', limit: 0}\n",
		head + "  - filter: {from: sel, where: ''}\n",
		head + "  - verify: {targets: sel, expect: gone, timeout: 1h}\n",
		head + "  - verify: {targets: sel}\n",
		head + "  - id: rows\n    note: x\n",
		head + "  - id: Bad\n    note: x\n",
		head + "  - {note: x, activity: null}\n",
		"name: Bad\nsteps: [{activity: }]\n",
		"name: p\nsteps: []\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: int, default: 3}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: int, default: three}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: list, default: [a, b]}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: list, default: a}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: duration, default: 5m}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {n: {type: float}}\n",
		"name: p\nsteps: [{activity: }]\nparams: {N: {type: int}}\n",
		"name: p\nsteps: [{activity: }]\nprotect: ['usename == \"x\"']\n",
		"name: p\nsteps: [{activity: }]\nprotect: 'usename == \"x\"'\n",
		"- name: p\n",
	}
	for _, src := range cases {
		_, loadErr := playbook.Parse("p.yaml", []byte(src))
		var doc any
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		problems := Validate(s, doc)
		if (loadErr == nil) != (len(problems) == 0) {
			t.Errorf("loader and schema disagree on:\n%s\nloader: %v\nschema: %v", src, loadErr, problems)
		}
	}
}

func TestValidateRefusesUnknownKeywords(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("an unsupported keyword was ignored")
		}
	}()
	Validate(Object{"uniqueItems": true}, []any{})
}
