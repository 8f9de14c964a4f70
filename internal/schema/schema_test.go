package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
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

// draft07 is the metaschema the schema declares in $schema.
const draft07 = "http://json-schema.org/draft-07/schema"

// compile compiles a schema document with santhosh-tekuri/jsonschema,
// which first checks it against the metaschema of its $schema, as an
// editor's language server does.
func compile(t *testing.T, data []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(ID)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// loadCommitted compiles the committed schema, as an editor would.
func loadCommitted(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	return compile(t, data)
}

// instance turns YAML into the JSON value a schema validates, through
// JSON text, as a language server sees a YAML document.
func instance(t *testing.T, data []byte) (any, error) {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	text, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(text))
}

func yamlDoc(t *testing.T, path string) (any, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return instance(t, data)
}

// TestSchemaIsValidDraft07 checks the committed schema against the
// draft-07 metaschema explicitly, and that the check can fail.
func TestSchemaIsValidDraft07(t *testing.T) {
	meta, err := jsonschema.NewCompiler().Compile(draft07)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.(map[string]any)["$schema"]; got != draft07+"#" {
		t.Errorf("$schema is %v, want %s#", got, draft07)
	}
	if err := meta.Validate(doc); err != nil {
		t.Errorf("the schema is not a valid draft-07 schema: %v", err)
	}
	broken := map[string]any{"$schema": draft07 + "#", "type": "strnig", "required": "name"}
	if err := meta.Validate(broken); err == nil {
		t.Error("the metaschema accepts a schema with type \"strnig\" and required as text")
	}
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
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s: the schema rejects a valid playbook: %v", f, err)
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
		err = s.Validate(doc)
		switch {
		case class == "schema" && err == nil:
			t.Errorf("%s: the schema accepts it", f)
		case class != "schema" && err != nil:
			t.Errorf("%s (%s): the schema rejects it: %v", f, class, err)
		}
	}
}

// TestSchemaAgreesWithTheLoader runs small playbooks through both: each
// must be accepted by both or rejected by both.
func TestSchemaAgreesWithTheLoader(t *testing.T) {
	s := compile(t, JSON())
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
		doc, err := instance(t, []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		schemaErr := s.Validate(doc)
		if (loadErr == nil) != (schemaErr == nil) {
			t.Errorf("loader and schema disagree on:\n%s\nloader: %v\nschema: %v", src, loadErr, schemaErr)
		}
	}
}
