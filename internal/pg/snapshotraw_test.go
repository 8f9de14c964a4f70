package pg

import (
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestRawSnapshotDecodeIsScans decodes every row of a real snapshot both
// from its binary values and through pgx's Scan, and requires the same
// sessions: lock waiters with their blockers and locks, a transaction
// holding an xid, idle sessions and the server's own processes with their
// NULLs.
func TestRawSnapshotDecodeIsScans(t *testing.T) {
	t.Parallel()
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_snap_raw")
	if err := incident.CreateLockTable(ctx, db.dsn, "locks", 2); err != nil {
		t.Fatal(err)
	}
	holder := pgtest.Staged[*incident.Session](t)(incident.IdleInTransaction(ctx, db.dsn, "pgrb-holder", "locks", 1))
	pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer", "locks", 1))
	pgtest.Staged[*incident.Session](t)(incident.Writer(ctx, db.dsn, "pgrb-writer2", "locks", 1))
	pgtest.Staged[*incident.Session](t)(incident.LongQuery(ctx, db.dsn, "pgrb-bystander ✓", longQuery))

	conn, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	sql := string(buildSnapshotSQL(version))
	rows := pgx.RowsFromResultReader(conn.TypeMap(), conn.PgConn().ExecParams(ctx, sql, nil, nil, nil, binaryResults))
	defer rows.Close()
	if !rawSnapshotReadable(rows) {
		t.Fatalf("the snapshot statement's columns are not as snapshotColumns says: %+v", rows.FieldDescriptions())
	}
	raw, scanned := newRawRow(), &scannedRow{}
	var n, waiters, nulls int
	for rows.Next() {
		a, takenA, standbyA, err := raw.decode(rows)
		if err != nil {
			t.Fatal(err)
		}
		b, takenB, standbyB, err := scanned.decode(rows)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !reflect.DeepEqual(a, b) || !takenA.Equal(takenB) || takenA.IsZero() || standbyA != standbyB {
			t.Errorf("row %d differs:\nraw:     %+v (taken %v, standby %v)\nscanned: %+v (taken %v, standby %v)", n, a, takenA, standbyA, b, takenB, standbyB)
		}
		if len(a.BlockedBy) > 0 && len(a.Locks) > 0 {
			waiters++
		}
		if a.Datname == "" {
			nulls++
		}
		if a.PID == holder.PID && (a.BackendXID == "" || a.XidAge == 0) {
			t.Errorf("holder row without its xid: %+v", a)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 6 || waiters < 2 || nulls == 0 {
		t.Errorf("%d rows, %d waiters with their locks and %d rows with NULLs were compared; want at least 6, 2 and 1", n, waiters, nulls)
	}
}

// TestRawSnapshotRefusesAMalformedValue: a value of the wrong size is an
// error, never a guessed session.
func TestRawSnapshotRefusesAMalformedValue(t *testing.T) {
	r := withValues([][]byte{{0, 0, 1}})
	if r.int4(0); r.err == nil {
		t.Error("a 3-byte int4 was read")
	}
	r = withValues([][]byte{{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9}})
	if got := r.int4Array(0); r.err == nil {
		t.Errorf("an array claiming 2 elements with 1 was read: %v", got)
	}
	r = withValues([][]byte{{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9}})
	if got := r.int4Array(0); r.err != nil || !reflect.DeepEqual(got, []int{9}) {
		t.Errorf("int4Array of {9}: %v, %v", got, r.err)
	}
}

// withValues is a raw row decoder positioned on a row of vals.
func withValues(vals [][]byte) *rawRow {
	r := newRawRow()
	r.vals = vals
	return r
}
