package strictyaml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/position"
)

func TestParsePlacesSyntaxErrors(t *testing.T) {
	cases := []struct {
		src  string
		want string // Detailed()
	}{
		// yaml.v3 names the line where the block it was reading began,
		// hence the hint.
		{"a: 1\nb: [1, 2\nc: 3\n", "f.yaml:1:1: YAML syntax: did not find expected ',' or ']' (check the indentation of the lines that follow)\n    a: 1\n    ^"},
		{"a:\n  b: 1\n c: 2\n", "f.yaml:2:1: YAML syntax: did not find expected key (check the indentation of the lines that follow)\n      b: 1\n    ^"},
		{"a: b: c\n", "f.yaml:1:1: YAML syntax: mapping values are not allowed in this context\n    a: b: c\n    ^"},
		{"a: \"x\x01\"\n", "f.yaml: YAML syntax: control characters are not allowed"},
	}
	for _, c := range cases {
		_, err := Parse("f.yaml", []byte(c.src))
		var pe *position.Error
		if !errors.As(err, &pe) {
			t.Fatalf("%q: %v is not a *position.Error", c.src, err)
		}
		if got := pe.Detailed(); got != c.want {
			t.Errorf("%q:\ngot  %q\nwant %q", c.src, got, c.want)
		}
	}
	if n, err := Parse("f.yaml", []byte("a: 1\n")); err != nil || n.Content[0].Content[0].Value != "a" {
		t.Errorf("a valid document: %v", err)
	}
}

func TestDecodeErrorsArePositionErrors(t *testing.T) {
	_, err := decode("items:\n  - {n: one}\n")
	var pe *position.Error
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != 1 || pe.File != "" || !strings.HasPrefix(pe.Message, "cannot unmarshal !!str") {
		t.Errorf("got %#v", err)
	}
}

func TestReadFileRefusesWhatIsOverTheBound(t *testing.T) {
	dir := t.TempDir()
	at := filepath.Join(dir, "at.yaml")
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(at, []byte(strings.Repeat("x", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(over, []byte(strings.Repeat("x", 1025)), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(at, 1024, "a test"); err != nil || len(data) != 1024 {
		t.Errorf("a file at the bound: %d bytes, %v", len(data), err)
	}
	_, err := ReadFile(over, 1024, "a test")
	var pe *position.Error
	if !errors.As(err, &pe) || pe.Error() != over+": the file is larger than 1 KiB, too large for a test" {
		t.Errorf("a file over the bound: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none.yaml"), 1024, "a test"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestSizeNamesTheUnit(t *testing.T) {
	for n, want := range map[int64]string{4 << 20: "4 MiB", 16 << 20: "16 MiB", 512 << 10: "512 KiB", 1000: "1000 bytes", 1<<20 + 1: "1048577 bytes"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
