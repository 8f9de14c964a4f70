package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

func TestPooledRowsCarryANoteInTables(t *testing.T) {
	rows := []activity.Session{
		{PID: 1, State: "idle in transaction", ViaPooler: true, PoolMode: "transaction", PoolerClientAddr: "10.0.0.7", PoolerClientPort: 51234, PoolerClientApp: "shop"},
		{PID: 2, State: "idle", ViaPooler: true, PoolMode: "transaction", PoolerReason: "a server connection of PgBouncer 1.18.0 at p:6432 (SHOW SERVERS); linked to no client now"},
		{PID: 3, State: "active", ViaPooler: true, PoolerReason: `application_name "pgbouncer" is PgBouncer's own`},
		{PID: 4, State: "active"},
	}
	var b bytes.Buffer
	SessionTable(&b, rows, nil, 160, "")
	out := b.String()
	for _, want := range []string{
		"└ via pooler, transaction pooling: serves client 10.0.0.7:51234 (shop) now; its application_name may be the previous client's",
		"└ via pooler, transaction pooling: idle in the pool, serving no client now",
		`└ via a pooler? application_name "pgbouncer" is PgBouncer's own; which client it serves now is unknown without --pooler`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "└"); n != 3 {
		t.Errorf("%d notes, want one per pooled row:\n%s", n, out)
	}
}

func TestStartReportNamesPoolerSettingsAndConsole(t *testing.T) {
	var b bytes.Buffer
	r := &Renderer{W: &b}
	r.Event(transcript.Event{Type: transcript.RunStarted, Playbook: "p", Mode: "yes", Server: &transcript.Server{
		Host: "127.0.0.1", Port: 6432, User: "ops", Database: "shop", Version: "15.18", BackendPID: 4242,
		Settings:      map[string]string{"statement_timeout": "10s", "default_transaction_read_only": "on"},
		Pooler:        &transcript.Pooler{Addr: "127.0.0.1:6432", Name: "PgBouncer 1.18.0", PoolMode: "session", ProtocolPID: 99},
		PoolerConsole: &transcript.PoolerConsole{Addr: "127.0.0.1:6432", Version: "PgBouncer 1.18.0"},
	}})
	out := b.String()
	for _, want := range []string{
		"(our pid 4242)",
		"pooler:     through PgBouncer 1.18.0 at 127.0.0.1:6432, session pooling: our pid above is the server's (pg_backend_pid), not the pooler's stand-in 99",
		"session:    statement_timeout=10s default_transaction_read_only=on (read back after connecting)",
		"--pooler:   PgBouncer 1.18.0 console at 127.0.0.1:6432",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("start report lacks %q:\n%s", want, out)
		}
	}
}
