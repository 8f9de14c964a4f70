package strictyaml

import (
	"fmt"
	"io"
	"os"

	"github.com/pgrunbook/pgrunbook/internal/position"
)

// ReadFile reads the file at path, refusing one larger than limit bytes
// without reading more than limit+1 of it: a regular file whose size is
// already over the limit is refused before any read, and anything else
// (a file that grows, a pipe) is read through io.LimitReader. what names
// the kind of file in the refusal ("a playbook"), which is a
// *position.Error of the whole file.
func ReadFile(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooLarge := &position.Error{File: path, Message: fmt.Sprintf("the file is larger than %s, too large for %s", size(limit), what)}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}

// size formats a byte count for a message: 4 MiB, 512 KiB, 100 bytes.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
