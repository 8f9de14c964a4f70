package transcript

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReadChecksTheChainInTheSamePass reads a transcript whose second
// line was edited: Read returns every event, says where the chain breaks,
// and agrees with VerifyChain; the intact file reads with no break and the
// head VerifyChain gives.
func TestReadChecksTheChainInTheSamePass(t *testing.T) {
	data := chainFixture(t, false)
	rr, err := Read(bytes.NewReader(data))
	if err != nil || rr.Broken != nil || len(rr.Events) != 4 {
		t.Fatalf("intact: %+v, %v", rr, err)
	}
	vc, err := VerifyChain(bytes.NewReader(data))
	if err != nil || vc.Head != rr.Head || vc.Events != len(rr.Events) {
		t.Fatalf("VerifyChain %+v, %v; Read's head %s", vc, err, rr.Head)
	}

	changed := bytes.Replace(data, []byte("SELECT secret"), []byte("SELECT public"), 1)
	rr, err = Read(bytes.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	if rr.Broken == nil || rr.Broken.Line != 3 {
		t.Fatalf("edited line 2: broken %v, want a break at line 3", rr.Broken)
	}
	if len(rr.Events) != 4 || rr.Events[3].Type != RunFinished {
		t.Errorf("the events past the break were not read: %d events", len(rr.Events))
	}
	_, verr := VerifyChain(bytes.NewReader(changed))
	var ce *ChainError
	if !errors.As(verr, &ce) || *ce != *rr.Broken {
		t.Errorf("VerifyChain says %v, Read says %v", verr, rr.Broken)
	}
}

// endless is a stream of bytes that never holds a newline.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestReadRefusesALineOverItsBound feeds the scanner a line without end:
// it stops with a LimitError naming the line once it has read little more
// than the bound, instead of reading on. A line right at the bound is
// read.
func TestReadRefusesALineOverItsBound(t *testing.T) {
	lim := Limits{Line: 1 << 20, File: 1 << 40}
	src := &endless{}
	err := scan(src, "x.jsonl", lim, nil, &ReadResult{})
	var le *LimitError
	if !errors.As(err, &le) || le.Line != 1 || le.Name != "x.jsonl" || le.Limit != 1<<20 {
		t.Fatalf("err %v, want a LimitError for line 1 of x.jsonl", err)
	}
	if src.read > 2<<20 {
		t.Errorf("read %d bytes of an endless line before refusing it, bound %d", src.read, lim.Line)
	}
	for _, want := range []string{"x.jsonl", "line 1", "1 MiB", EnvMaxLine} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	line := `{"seq":1,"time":"2026-01-01T00:00:00Z","type":"note","text":"` + strings.Repeat("y", 200) + `"}`
	for _, c := range []struct {
		bound int
		ok    bool
	}{{len(line), true}, {len(line) - 1, false}} {
		for _, text := range []string{line + "\n", line} {
			res := &ReadResult{}
			err := scan(strings.NewReader(text), "", Limits{Line: c.bound, File: 1 << 20}, nil, res)
			if (err == nil) != c.ok {
				t.Errorf("line of %d bytes (newline %v), bound %d: err %v", len(line), strings.HasSuffix(text, "\n"), c.bound, err)
			}
		}
	}
}

// TestReadFileRefusesOverBounds checks the bounds through ReadFile and the
// environment: a file over the file bound is refused before it is read,
// one whose line is over the line bound when that line is reached, and
// both messages name the file, the bound and the variable that raises it.
func TestReadFileRefusesOverBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.jsonl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 20); err != nil { // sparse: nothing written
		t.Fatal(err)
	}
	f.Close()
	t.Setenv(EnvMaxFile, "2")
	_, err = ReadFile(big)
	var le *LimitError
	if !errors.As(err, &le) || le.Line != 0 || le.Size != 3<<20 {
		t.Fatalf("3 MiB file, bound 2 MiB: %v", err)
	}
	for _, want := range []string{big, "2 MiB", EnvMaxFile} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	t.Setenv(EnvMaxFile, "")
	t.Setenv(EnvMaxLine, "1")
	data := chainFixture(t, false)
	long := append(append(data[:len(data):len(data)], strings.Repeat("z", 1<<20+1)...), '\n')
	path := filepath.Join(dir, "long.jsonl")
	if err := os.WriteFile(path, long, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(path)
	if !errors.As(err, &le) || le.Line != 5 {
		t.Fatalf("a 1 MiB line 5, bound 1 MiB: %v", err)
	}
	for _, want := range []string{path, "line 5", "1 MiB", EnvMaxLine} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	t.Setenv(EnvMaxLine, "2")
	if _, err := ReadFile(path); err == nil || errors.As(err, &le) {
		t.Errorf("with the bound raised, the line is read (and is not an event): %v", err)
	}
}

// TestReadCountsAStreamAgainstTheFileBound checks the file bound where
// there is no size to look at: a stream is refused once it has given more
// than the bound.
func TestReadCountsAStreamAgainstTheFileBound(t *testing.T) {
	data := chainFixture(t, false)
	var many bytes.Buffer
	for range 10 {
		many.Write(data)
	}
	err := scan(&many, "", Limits{Line: 1 << 20, File: int64(3 * len(data))}, nil, &ReadResult{})
	var le *LimitError
	if !errors.As(err, &le) || le.Line != 0 || le.Size <= int64(3*len(data)) {
		t.Fatalf("ten copies, bound three: %v", err)
	}
	if !strings.Contains(err.Error(), "the transcript takes") {
		t.Errorf("a stream's message: %q", err)
	}
}

// TestReadPassesOverALongLineThatIsNoEvent: a line longer than the
// reader's buffer that does not start with '{' is not kept whole; it is a
// LineError when it ends with a newline and truncation when it ends the
// file, as a short one is.
func TestReadPassesOverALongLineThatIsNoEvent(t *testing.T) {
	data := chainFixture(t, false)
	junk := strings.Repeat("x", 200<<10)
	_, err := Read(strings.NewReader(string(data) + junk + "\n"))
	var le *LineError
	if !errors.As(err, &le) || le.Line != 5 || !strings.Contains(err.Error(), `starts with "xxxx`) {
		t.Errorf("a long junk line 5: %v", err)
	}
	rr, err := Read(strings.NewReader(string(data) + junk))
	if err != nil || !rr.Truncated || rr.TruncatedLine != 5 || len(rr.Events) != 4 || rr.Broken != nil {
		t.Errorf("a long junk last line: %+v, %v", rr, err)
	}
	long := `{"seq":5,"type":"note","text":"` + junk + `"}`
	rr, err = Read(strings.NewReader(string(data) + long + "\n"))
	if err != nil || len(rr.Events) != 5 || len(rr.Events[4].Text) != len(junk) {
		t.Errorf("a long event is read whole: %v", err)
	}
}

// TestRefusingJunkCostsAFixedMemory reads an endless line that is no
// event up to the default line bound (64 MiB) and checks what the reader
// allocated on the way: its buffer and the line's start, not the line.
func TestRefusingJunkCostsAFixedMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	src := &endless{}
	err := scan(src, "", DefaultLimits, nil, &ReadResult{})
	runtime.ReadMemStats(&after)
	var le *LimitError
	if !errors.As(err, &le) || src.read < DefaultMaxLine {
		t.Fatalf("err %v after %d bytes", err, src.read)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("refusing %d MiB of junk allocated %d bytes", src.read>>20, alloc)
	}
}
