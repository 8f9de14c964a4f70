//go:build unix

package playbook

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/position"
)

// hugeSize is the size of the playbooks these tests refuse: 100 MB, the
// file a new user once fed validate (4.4 s and 1.2 GB before it said no).
const hugeSize = 100 << 20

// sparseFile makes a file of size bytes in dir that takes no space: a
// valid start of a playbook and then a hole.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, []byte("name: huge\nsteps:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return path
}

// streamedFile makes a named pipe in dir and writes size bytes of a
// playbook-looking text into it from a goroutine, 64 KiB at a time, until
// the reader stops reading. Its size is unknown to a reader until the
// end, so only a bounded read can refuse it early.
func streamedFile(t *testing.T, size int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stream.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		chunk := []byte(strings.Repeat("# a comment line of a very long playbook\n", 64<<10/41))
		for written := 0; written < size; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return // the reader closed the pipe: it has read enough
			}
		}
	}()
	t.Cleanup(func() { <-done })
	return path
}

func wantTooLarge(t *testing.T, path string, err error) {
	t.Helper()
	var list position.List
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	want := path + ": the file is larger than 4 MiB, too large for a playbook"
	if got := list.Detailed(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestLoadRefusesAHugePlaybookWithoutReadingIt(t *testing.T) {
	path := sparseFile(t, hugeSize)
	var err error
	bytes := allocated(func() { _, err = Load(path) })
	wantTooLarge(t, path, err)
	t.Logf("refusing a %d MB file: %d bytes allocated", hugeSize>>20, bytes)
	// The size is known from the file, so nothing of it is read.
	if bytes > 64<<10 {
		t.Errorf("refusing a %d MB file allocated %d bytes; want under 64 KiB", hugeSize>>20, bytes)
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = Load(path) })
	t.Logf("refusing a %d MB file: %.0f allocations", hugeSize>>20, allocs)
	if allocs > 40 {
		t.Errorf("refusing a %d MB file takes %.0f allocations; want a few", hugeSize>>20, allocs)
	}
}

func TestLoadRefusesAHugeStreamAfterReadingOnlyTheBound(t *testing.T) {
	// A stream's size is not known up front, so Load reads MaxFileSize+1
	// bytes of it and stops. What that costs is the same for a stream of
	// 10 MB as of 100 MB, and a small multiple of the bound (io.ReadAll's
	// growing buffer; more under -race), where reading the file whole
	// cost 1.5 GB.
	cost := map[int]uint64{}
	for _, size := range []int{hugeSize / 10, hugeSize} {
		path := streamedFile(t, size)
		var err error
		cost[size] = allocated(func() { _, err = Load(path) })
		wantTooLarge(t, path, err)
		t.Logf("refusing a %d MB stream: %d bytes allocated", size>>20, cost[size])
		if cost[size] > 8*MaxFileSize {
			t.Errorf("refusing a %d MB stream allocated %d bytes; want under 8×%d", size>>20, cost[size], MaxFileSize)
		}
	}
	small, large := cost[hugeSize/10], cost[hugeSize]
	if large > small+1<<20 {
		t.Errorf("a 100 MB stream cost %d bytes, a 10 MB one %d: the cost grows with the input", large, small)
	}
}

func TestLoadReadsAPlaybookAtTheBound(t *testing.T) {
	src := "name: at-bound\nsteps:\n  - activity:\n"
	pad := MaxFileSize - len(src)
	data := []byte(src + strings.Repeat("#", pad-1) + "\n")
	path := filepath.Join(t.TempDir(), "at-bound.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	pb, err := Load(path)
	if err != nil || len(pb.Source) != MaxFileSize {
		t.Fatalf("a playbook of exactly %d bytes: %v", MaxFileSize, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	wantTooLarge(t, path, err)
}
