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
	// Dir is the cluster's directory; PID the postmaster's process id;
	// Env the libpq variables that reach the rehearsal database.
	Dir string
	PID int
	Env []string
}

var errKeepUnsupported = errors.New("keeping a sandbox running needs a unix system")

// keep would hand the cluster over to a detached server; not supported
// here.
func keep(context.Context, *sandbox.Cluster) (*Kept, error) { return nil, errKeepUnsupported }

// StopKept stops a kept sandbox; not supported here.
func StopKept(string, io.Writer) error { return errKeepUnsupported }
