package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/playbooks"
)

// BenchmarkFilter10k measures the shipped cancel-long-queries filter over
// a 10,000-row snapshot; ns/op divided by 10,000 is the cost per row.
func BenchmarkFilter10k(b *testing.B) {
	src, _ := playbooks.Source("cancel-long-queries")
	pb, err := playbook.Parse("cancel-long-queries", src)
	if err != nil {
		b.Fatal(err)
	}
	vals, _ := pb.Resolve([]string{"min_runtime=1m"})
	scope := pb.NewScope(vals)
	f := pb.Steps[1].Filter
	now := time.Now()
	rows := make([]activity.Session, 10000)
	for i := range rows {
		rows[i] = activity.Session{
			PID: 1000 + i, Datname: "shop", Usename: "app", ApplicationName: fmt.Sprintf("web-%d", i%10),
			State: []string{"active", "idle", "idle in transaction"}[i%3], BackendType: activity.ClientBackend,
			QueryRuntime: time.Duration(i) * time.Second, BackendStart: now, Query: "SELECT 1",
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := selectRows(scope, f, rows); err != nil {
			b.Fatal(err)
		}
	}
}
