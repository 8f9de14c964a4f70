//go:build !linux

package hoststat

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// sample is not implemented outside Linux: there is no /proc to read the
// backends' figures from.
func sample(context.Context, []Backend, time.Duration) (map[int]Stats, error) {
	return nil, fmt.Errorf("host statistics are not available on this OS (%s): %w", runtime.GOOS, errors.ErrUnsupported)
}
