package engine

import (
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

func TestPooledTerminateEffect(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    activity.Session
		want []string
	}{
		{"transaction_linked", activity.Session{ViaPooler: true, PoolMode: "transaction", PoolerClientAddr: "10.0.0.7", PoolerClientPort: 51234, PoolerClientApp: "shop"},
			[]string{"linked to it now", "10.0.0.7:51234 (shop)", "disconnected", "other clients are not touched"}},
		{"session_linked", activity.Session{ViaPooler: true, PoolMode: "session", PoolerClientAddr: "10.0.0.7", PoolerClientPort: 51234},
			[]string{"whole session", "10.0.0.7:51234"}},
		{"idle_link", activity.Session{ViaPooler: true, PoolMode: "transaction", PoolerReason: "a server connection of PgBouncer (SHOW SERVERS); linked to no client now"},
			[]string{"serving no client", "hits nobody", "pointless"}},
		{"unmapped", activity.Session{ViaPooler: true, PoolerReason: `application_name "pgbouncer" is PgBouncer's own`},
			[]string{"whichever client", "without --pooler", "previous client's", `"pgbouncer"`}},
	} {
		got := pooledTerminateEffect(&tc.s)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
	}
}
