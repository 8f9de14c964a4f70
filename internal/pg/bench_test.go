package pg

import (
	"context"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// benchSnapshotRows is the size of the snapshot BenchmarkSnapshot decodes.
const benchSnapshotRows = 2000

// syntheticSnapshotSQL returns 2,000 rows with the columns and types of the
// snapshot statement, shaped like a busy server in an incident: 200
// statements sleeping for minutes, 20 writers waiting on a lock held by
// one of 80 sessions idle in a transaction, and 1,700 idle sessions, each
// with a query text of about 200 bytes. The 20 waiters and the 20
// sessions they wait for carry lock rows, as the snapshot statement sends
// them for sessions that wait or block. The test server has a few dozen
// sessions and room for 300, so a real 2,000-row pg_stat_activity is the
// bench's job (go run ./internal/bench); this statement makes the server's
// part cheap and the same every time, so the benchmark measures the wire
// and the client's decoding.
const syntheticSnapshotSQL = `SELECT statement_timestamp(),
       (100000 + g)::int,
       'shop'::name,
       'app'::name,
       CASE WHEN g <= 200 THEN 'nightly-report' ELSE 'web-' || (g % 10) END,
       '10.1.' || (g / 250) || '.' || (g % 250),
       NULL::text,
       (40000 + g)::int,
       now() - make_interval(secs => 3600 + g),
       CASE WHEN g <= 300 THEN now() - make_interval(secs => 600 + g) END,
       now() - make_interval(secs => g),
       now() - make_interval(secs => g / 2.0),
       CASE WHEN g <= 200 THEN 'Timeout' WHEN g <= 220 THEN 'Lock' ELSE 'Client' END,
       CASE WHEN g <= 200 THEN 'PgSleep' WHEN g <= 220 THEN 'transactionid' ELSE 'ClientRead' END,
       CASE WHEN g <= 220 THEN 'active' WHEN g <= 300 THEN 'idle in transaction' ELSE 'idle' END,
       CASE WHEN g <= 300 THEN (5000 + g)::text END,
       CASE WHEN g <= 300 THEN '4990' END,
       'SELECT o.id, o.customer_id, o.total_cents, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id '
         || 'WHERE o.created_at > now() - interval ''1 day'' AND o.status = ''open'' ORDER BY o.created_at DESC LIMIT ' || g,
       'client backend',
       NULL::int,
       (g::bigint * 7919),
       CASE WHEN g > 200 AND g <= 220 THEN ARRAY[100221 + g % 80]::int[] END,
       false,
       CASE WHEN g <= 300 THEN 1000 + g END,
       CASE WHEN g <= 300 THEN 990 + g END,
       false,
       CASE
       WHEN g > 200 AND g <= 220 THEN json_build_array(
         json_build_object('t', 'transactionid', 'xid', (5221 + g % 80)::text, 'mode', 'ShareLock', 'granted', false,
                           'waitstart', (extract(epoch FROM now() - make_interval(secs => g)) * 1000000)::int8),
         json_build_object('t', 'relation', 'db', 16384, 'rel', 16390, 'mode', 'RowExclusiveLock', 'granted', true,
                           'relname', 'public.orders'),
         json_build_object('t', 'tuple', 'db', 16384, 'rel', 16390, 'page', 7, 'tuple', g % 50, 'mode', 'ExclusiveLock',
                           'granted', true, 'relname', 'public.orders'),
         json_build_object('t', 'transactionid', 'xid', (5000 + g)::text, 'mode', 'ExclusiveLock', 'granted', true),
         json_build_object('t', 'virtualxid', 'vxid', g || '/1', 'mode', 'ExclusiveLock', 'granted', true))
       WHEN g BETWEEN 262 AND 281 THEN json_build_array(
         json_build_object('t', 'relation', 'db', 16384, 'rel', 16390, 'mode', 'RowExclusiveLock', 'granted', true,
                           'relname', 'public.orders'),
         json_build_object('t', 'transactionid', 'xid', (5000 + g)::text, 'mode', 'ExclusiveLock', 'granted', true),
         json_build_object('t', 'virtualxid', 'vxid', g || '/1', 'mode', 'ExclusiveLock', 'granted', true))
       END
FROM generate_series(1, 2000) AS g
ORDER BY 2`

// BenchmarkSnapshot measures Client.Snapshot on a 2,000-row result:
//
//   - decode: the whole call, as every activity step and verify poll pays
//     it: the round trip, the server producing the rows, the wire, and
//     decoding every row into an activity.Session with derived fields;
//   - wire: the same statement with every row read off the wire and not
//     decoded.
//
// decode minus wire is the cost of decoding and deriving 2,000 rows.
func BenchmarkSnapshot(b *testing.B) {
	ctx := context.Background()
	c, err := Connect(ctx, Options{DSN: pgtest.DSN()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	c.sql = snapshotSQL(syntheticSnapshotSQL)

	b.Run("decode_2000_rows", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			snap, err := c.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(snap.Rows) != benchSnapshotRows {
				b.Fatalf("%d rows, want %d", len(snap.Rows), benchSnapshotRows)
			}
		}
	})
	b.Run("wire_2000_rows", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := c.conn.Query(ctx, syntheticSnapshotSQL)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			if n != benchSnapshotRows {
				b.Fatalf("%d rows, want %d", n, benchSnapshotRows)
			}
		}
	})
}
