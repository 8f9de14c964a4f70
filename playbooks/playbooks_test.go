package playbooks_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/playbooktest"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// TestShippedPlaybooksPassTheirTests is `pgrunbook test playbooks/`: every
// case of every shipped playbook's test file must pass, so `make test`
// runs them.
func TestShippedPlaybooksPassTheirTests(t *testing.T) {
	files, err := playbooktest.Find([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum := playbooktest.Run(context.Background(), files, playbooktest.Options{Out: &out})
	if !sum.OK() {
		t.Fatalf("pgrunbook test playbooks/ failed:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

// TestEveryShippedPlaybookHasTests: at least three cases each (a match, a
// near miss that must be spared, a protected or hidden row).
func TestEveryShippedPlaybookHasTests(t *testing.T) {
	names := playbooks.Names()
	if len(names) < 3 {
		t.Fatalf("Names() = %v", names)
	}
	for _, name := range names {
		suite, err := playbooktest.LoadFile(name + ".test.yaml")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if suite.Playbook.Name != name {
			t.Errorf("%s.test.yaml tests %s", name, suite.Playbook.Name)
		}
		if len(suite.Cases) < 3 {
			t.Errorf("%s has %d test cases, want at least 3", name, len(suite.Cases))
		}
	}
}

// TestNamesListOnlyPlaybooks: the test files embedded next to the
// playbooks are not playbooks.
func TestNamesListOnlyPlaybooks(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if ok && !playbooktest.IsTestFile(e.Name()) {
			want = append(want, name)
		}
	}
	if got := playbooks.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, ok := playbooks.Source("cancel-long-queries.test"); ok {
		t.Error("Source serves a test file as a playbook")
	}
	if _, ok := playbooks.Source("cancel-long-queries"); !ok {
		t.Error("Source lacks cancel-long-queries")
	}
}
