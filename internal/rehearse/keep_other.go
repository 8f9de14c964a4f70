//go:build !unix

package rehearse

import (
	"context"
	"errors"
	"io"

	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// KeptFile is the file a kept sandbox's directory holds.
const KeptFile = "rehearsal.env"

// Kept describes a sandbox left running by Options.Keep.
type Kept struct {
	Dir string
	PID int
	Env []string
}

var errKeepUnsupported = errors.New("keeping a sandbox running needs a unix system")

func keep(context.Context, *sandbox.Cluster) (*Kept, error) { return nil, errKeepUnsupported }

// StopKept stops a kept sandbox; not supported here.
func StopKept(string, io.Writer) error { return errKeepUnsupported }
