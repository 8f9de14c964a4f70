package hoststat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// benchBackends is how many idle backends BenchmarkSample reads.
const benchBackends = 100

// BenchmarkSample measures Sample's own cost per backend, the interval
// left out (it is one nanosecond):
//
//   - local: every backend is a local PostgreSQL process, so each is
//     identified (stat, cmdline, io; the postmaster's stat once) and read
//     again (stat, io, status);
//   - remote: no pid exists here, the cost of finding that out.
//
// ns/backend is the figure to quote; ns/op is for benchBackends backends.
func BenchmarkSample(b *testing.B) {
	ctx := context.Background()
	db := pgtest.CreateDatabase(b, "hoststat_bench")
	local := make([]Backend, benchBackends)
	for i := range local {
		conn := pgtest.ConnectTo(b, db)
		if err := conn.QueryRow(ctx, "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()").
			Scan(&local[i].PID, &local[i].BackendStart); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			got, err := Sample(ctx, local, time.Nanosecond)
			if err != nil || len(got) != len(local) {
				b.Fatalf("Sample = %d stats, %v; want %d", len(got), err, len(local))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(local)), "ns/backend")
	})

	remote := make([]Backend, benchBackends)
	for i, pid := range absentPIDs(b, benchBackends) {
		remote[i] = Backend{PID: pid, BackendStart: local[0].BackendStart}
	}
	b.Run("remote", func(b *testing.B) {
		for b.Loop() {
			if _, err := Sample(ctx, remote, time.Nanosecond); !errors.Is(err, ErrNotLocal) {
				b.Fatalf("Sample = %v, want ErrNotLocal", err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(remote)), "ns/backend")
	})
}
