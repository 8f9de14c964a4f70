package engine_test

import (
	"os"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
