package hoststat

import (
	"os"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestMain(m *testing.M) {
	// The test binary doubles as an unprivileged sampler for
	// TestSampleUnprivileged; in that role it needs no server.
	if code, ok := runChild(); ok {
		os.Exit(code)
	}
	os.Exit(pgtest.Main(m))
}
