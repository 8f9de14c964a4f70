package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgrunbook/pgrunbook/playbooks"
)

// FuzzParse feeds the loader arbitrary documents, seeded with the shipped
// playbooks and the good and bad catalogues in testdata. The loader must
// never panic, and must either return a playbook or an ErrorList whose
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
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is not a non-empty ErrorList: %v", err)
		}
		for _, e := range list {
			if e.File != "fuzz.yaml" || e.Message == "" {
				t.Fatalf("malformed error %+v", e)
			}
			_ = e.Detailed()
		}
	})
}
