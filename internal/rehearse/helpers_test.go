package rehearse

import (
	"path/filepath"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// referencePath is where the reference playbook named name is: a playbook
// under testdata/reference that does what the expert does, for a
// scenario whose recommended playbook is not built in yet.
func referencePath(name string) string {
	return filepath.Join("testdata", "reference", name+".yaml")
}

// loadPlaybook loads a playbook file.
func loadPlaybook(t *testing.T, path string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// builtinPlaybook parses a built-in playbook.
func builtinPlaybook(t *testing.T, name string) *playbook.Playbook {
	t.Helper()
	src, ok := playbooks.Source(name)
	if !ok {
		t.Fatalf("no built-in playbook %s", name)
	}
	pb, err := playbook.Parse("builtin:"+name, src)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

// playbookFor returns the built-in playbook name once it has landed, and
// the reference playbook of that name until then.
func playbookFor(t *testing.T, name string) *playbook.Playbook {
	t.Helper()
	if _, ok := playbooks.Source(name); ok {
		return builtinPlaybook(t, name)
	}
	return loadPlaybook(t, referencePath(name))
}
