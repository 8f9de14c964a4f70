package pg

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Decoding the snapshot's rows straight from the wire.
//
// A snapshot of a busy server is thousands of rows of 27 columns, read
// twice in a run (before acting and to verify), and pgx's Scan converts
// each value through its type map. The columns' types are fixed by the
// statement, so rawRow reads the binary values itself, and
// checks first that the server described every column with the type
// and format it expects; if not, pgx's Scan does the work (scannedRow).
// TestRawSnapshotDecodeIsScans holds the two equal on a real server.

// snapshotColumns are the snapshot statement's result columns' types, in
// order (buildSnapshotSQL).
var snapshotColumns = [...]uint32{
	pgtype.TimestamptzOID, pgtype.Int4OID, pgtype.NameOID, pgtype.NameOID, pgtype.TextOID,
	pgtype.TextOID, pgtype.TextOID, pgtype.Int4OID,
	pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID,
	pgtype.TextOID, pgtype.TextOID, pgtype.TextOID,
	pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID,
	pgtype.Int4OID, pgtype.Int8OID, pgtype.Int4ArrayOID,
	pgtype.BoolOID, pgtype.Int4OID, pgtype.Int4OID, pgtype.BoolOID,
	pgtype.JSONOID,
}

// rawSnapshotReadable reports whether rows are described as rawRow reads
// them: every column binary, of its type.
func rawSnapshotReadable(rows pgx.Rows) bool {
	fds := rows.FieldDescriptions()
	if len(fds) != len(snapshotColumns) {
		return false
	}
	for i, fd := range fds {
		if fd.Format != pgx.BinaryFormatCode || fd.DataTypeOID != snapshotColumns[i] {
			return false
		}
	}
	return true
}

// postgresEpoch is where PostgreSQL's binary timestamps count from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// rawRow reads the binary values of one row; the first error stays.
type rawRow struct {
	vals [][]byte
	err  error
	// names keeps one copy of each short text seen (database, role,
	// application, state, wait event, backend type), which repeat on
	// most rows.
	names map[string]string
}

func (r *rawRow) fail(col int, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %d: %s", col+1, what)
	}
}

// fixed returns column col's value, which must be NULL or n bytes.
func (r *rawRow) fixed(col, n int) []byte {
	v := r.vals[col]
	if v != nil && len(v) != n {
		r.fail(col, fmt.Sprintf("%d bytes, want %d", len(v), n))
		return nil
	}
	return v
}

func (r *rawRow) int4(col int) int32 {
	if v := r.fixed(col, 4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (r *rawRow) int8(col int) int64 {
	if v := r.fixed(col, 8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (r *rawRow) bool(col int) bool {
	v := r.fixed(col, 1)
	return v != nil && v[0] != 0
}

// text returns a text value, "" for NULL.
func (r *rawRow) text(col int) string { return string(r.vals[col]) }

// name returns a text value that repeats across rows, shared.
func (r *rawRow) name(col int) string {
	v := r.vals[col]
	if len(v) == 0 || len(v) > 64 {
		return string(v)
	}
	if s, ok := r.names[string(v)]; ok {
		return s
	}
	s := string(v)
	r.names[s] = s
	return s
}

// time returns a timestamptz in UTC, the zero time for NULL or an
// infinite timestamp (as scanSnapshot's ts gives them).
func (r *rawRow) time(col int) time.Time {
	v := r.fixed(col, 8)
	if v == nil {
		return time.Time{}
	}
	us := int64(binary.BigEndian.Uint64(v))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return time.Time{}
	}
	return postgresEpoch.Add(time.Duration(us/1e6) * time.Second).Add(time.Duration(us%1e6) * time.Microsecond)
}

// int4Array returns a one-dimensional int4[] without NULLs, nil for NULL
// or an empty array.
func (r *rawRow) int4Array(col int) []int {
	v := r.vals[col]
	if v == nil {
		return nil
	}
	if len(v) < 12 {
		r.fail(col, "short array header")
		return nil
	}
	ndim, hasNull, elem := binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:])
	if ndim == 0 {
		return nil
	}
	if ndim != 1 || hasNull != 0 || elem != pgtype.Int4OID || len(v) < 20 {
		r.fail(col, "not a one-dimensional int4 array without NULLs")
		return nil
	}
	n := int(binary.BigEndian.Uint32(v[12:]))
	body := v[20:]
	if n < 0 || len(body) != n*8 {
		r.fail(col, "array length does not match its elements")
		return nil
	}
	out := make([]int, n)
	for i := range out {
		e := body[i*8:]
		if binary.BigEndian.Uint32(e) != 4 {
			r.fail(col, "array element is not 4 bytes")
			return nil
		}
		out[i] = int(int32(binary.BigEndian.Uint32(e[4:])))
	}
	return out
}

// newRawRow returns a decoder of the snapshot's rows from their binary
// values; rawSnapshotReadable must hold.
func newRawRow() *rawRow { return &rawRow{names: map[string]string{}} }

func (r *rawRow) decode(rows pgx.Rows) (activity.Session, time.Time, bool, error) {
	r.vals, r.err = rows.RawValues(), nil
	if len(r.vals) != len(snapshotColumns) {
		return activity.Session{}, time.Time{}, false, fmt.Errorf("decoding pg_stat_activity: %d columns, want %d", len(r.vals), len(snapshotColumns))
	}
	for _, col := range [...]int{0, 1, 22, 25} {
		if r.vals[col] == nil {
			r.fail(col, "NULL")
		}
	}
	taken := r.time(0)
	s := activity.Session{
		PID: int(r.int4(1)), Datname: r.name(2), Usename: r.name(3), ApplicationName: r.name(4),
		ClientAddr: r.name(5), ClientHostname: r.name(6), ClientPort: int(r.int4(7)),
		BackendStart: r.time(8), XactStart: r.time(9), QueryStart: r.time(10), StateChange: r.time(11),
		WaitEventType: r.name(12), WaitEvent: r.name(13), State: r.name(14),
		BackendXID: r.text(15), BackendXmin: r.text(16), Query: r.text(17), BackendType: r.name(18),
		LeaderPID: int(r.int4(19)), QueryID: r.int8(20), BlockedBy: r.int4Array(21), IsSelf: r.bool(22),
		XminAge: int64(r.int4(23)), XidAge: int64(r.int4(24)),
	}
	standby := r.bool(25)
	if r.err != nil {
		return s, taken, standby, fmt.Errorf("decoding pg_stat_activity: %w", r.err)
	}
	var err error
	if s.Locks, err = decodeLocks(r.vals[26]); err != nil {
		return s, taken, standby, fmt.Errorf("decoding the locks of pid %d: %w", s.PID, err)
	}
	return s, taken, standby, nil
}
