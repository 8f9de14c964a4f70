package pg

import (
	"slices"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestStatementParametersTravelExactly: the signalling statement's
// parameters (int4[], timestamptz[] with and without NULLs, text[]) reach
// the server unchanged, to the microsecond, on a statement's first use
// and when it is run again by name.
func TestStatementParametersTravelExactly(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	c := connectClient(t, ctx, Options{DSN: newDB(t, "pg_link_params").dsn})
	t1 := time.Date(2026, 3, 1, 2, 3, 4, 123456000, time.UTC)
	t2 := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.FixedZone("x", 5*3600+1800))
	pids := []int32{1, -2, 2147483647}
	starts := []time.Time{t1, t2, t1}
	withNulls := []*time.Time{nil, &t2, nil}
	types := []string{"client backend", `a,"b}`, ""}
	const echo = `SELECT $1::int[], $2::timestamptz[], $3::timestamptz[], $4::text[], $2::timestamptz[] = ARRAY[$5::timestamptz, $6::timestamptz, $5::timestamptz]`
	for _, use := range []string{"first use", "by name"} {
		var (
			gotPIDs   []int32
			gotStarts []time.Time
			gotNulls  []*time.Time
			gotTypes  []string
			same      bool
		)
		err := c.queryRow(ctx, echo, pids, starts, withNulls, types, t1, t2).Scan(&gotPIDs, &gotStarts, &gotNulls, &gotTypes, &same)
		if err != nil {
			t.Fatalf("%s: %v", use, err)
		}
		if !slices.Equal(gotPIDs, pids) || !slices.Equal(gotTypes, types) || !same {
			t.Errorf("%s: got %v %q (arrays equal on the server: %v), want %v %q", use, gotPIDs, gotTypes, same, pids, types)
		}
		if !slices.EqualFunc(gotStarts, starts, time.Time.Equal) {
			t.Errorf("%s: timestamps came back as %v, want %v", use, gotStarts, starts)
		}
		if len(gotNulls) != 3 || gotNulls[0] != nil || gotNulls[2] != nil || gotNulls[1] == nil || !gotNulls[1].Equal(t2) {
			t.Errorf("%s: timestamps with NULLs came back as %v, want [nil %v nil]", use, gotNulls, t2)
		}
	}
}
