//go:build !linux

package hoststat

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSampleUnsupported(t *testing.T) {
	_, err := Sample(context.Background(), []Backend{{PID: 1, BackendStart: time.Now()}}, time.Millisecond)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Sample = %v, want errors.ErrUnsupported", err)
	}
}
