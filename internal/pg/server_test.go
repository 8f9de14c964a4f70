package pg

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
	"github.com/pgrunbook/pgrunbook/internal/sandbox"
)

// TestSnapshotServerFacts checks the server facts of a snapshot against
// what the server says. It is not parallel, so that the client backends
// counted are this test's and stay put while it counts them.
func TestSnapshotServerFacts(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "pg_server_facts")
	for range 3 {
		pgtest.Staged[*incident.Session](t)(incident.Idle(ctx, db.dsn, "pgrb-slot"))
	}
	c := connectClient(t, ctx, Options{DSN: db.dsn})

	show := func(name string) string {
		t.Helper()
		var v string
		// name is one of this test's constants.
		if err := db.ctl.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		return v
	}
	atoi := func(s string) int {
		t.Helper()
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var standby bool
	if err := db.ctl.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		t.Fatal(err)
	}
	// The client backends, counted before and after the snapshot: a
	// backend of an earlier test may still be exiting, so count again
	// until the count holds still around a snapshot.
	count := func() int {
		t.Helper()
		var n int
		if err := db.ctl.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var snap *activity.Snapshot
	used := -1
	for range 50 {
		before := count()
		snap = snapshot(t, ctx, c)
		if count() == before {
			used = before
			break
		}
	}
	if used < 0 {
		t.Fatal("the number of client backends never held still around a snapshot")
	}

	s := snap.Server
	if s.MaxConnections != atoi(show("max_connections")) ||
		s.SuperuserReservedConnections != atoi(show("superuser_reserved_connections")) ||
		s.ClusterName != show("cluster_name") {
		t.Errorf("server max_connections %d superuser_reserved_connections %d cluster_name %q; SHOW says %s, %s, %q",
			s.MaxConnections, s.SuperuserReservedConnections, s.ClusterName,
			show("max_connections"), show("superuser_reserved_connections"), show("cluster_name"))
	}
	wantReserved := 0
	if c.Info().VersionNum >= 160000 {
		wantReserved = atoi(show("reserved_connections"))
	}
	if s.ReservedConnections != wantReserved {
		t.Errorf("reserved_connections %d, want %d", s.ReservedConnections, wantReserved)
	}
	if s.IsStandby != standby || s.IsStandby || s.Role() != "primary" {
		t.Errorf("is_standby %v (role %s), pg_is_in_recovery() says %v; the test server is a primary", s.IsStandby, s.Role(), standby)
	}
	if s.Version != show("server_version") || s.VersionNum != atoi(show("server_version_num")) {
		t.Errorf("version %q / %d, SHOW says %q / %s", s.Version, s.VersionNum, show("server_version"), show("server_version_num"))
	}
	if info := c.Info(); s.Host != info.Host || s.Port != info.Port || s.Host == "" || s.Port == 0 {
		t.Errorf("server host %q port %d, want the connection's %q %d", s.Host, s.Port, info.Host, info.Port)
	}
	if s.ConnectionsUsed != used || used < 5 {
		t.Errorf("connections_used %d, pg_stat_activity has %d client backends (at least 3 idle, the control and pgrunbook)", s.ConnectionsUsed, used)
	}
	if want := max(s.MaxConnections-s.SuperuserReservedConnections-s.ReservedConnections-used, 0); s.ConnectionsFree != want {
		t.Errorf("connections_free %d, want %d", s.ConnectionsFree, want)
	}
	// The static facts are the client's too, and the same in every
	// snapshot.
	static := c.ServerFacts()
	static.IsStandby, static.ConnectionsUsed, static.ConnectionsFree = s.IsStandby, s.ConnectionsUsed, s.ConnectionsFree
	if static != s {
		t.Errorf("ServerFacts() %+v differs from the snapshot's %+v beyond the per-snapshot facts", c.ServerFacts(), s)
	}
}

// TestServerFactsOfAConfiguredServer reads the facts of a server of its
// own, started with settings that differ from the defaults, so a fact
// read from the wrong setting (or not at all) shows.
func TestServerFactsOfAConfiguredServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	binDir := ""
	if pc := pgtest.Cluster(); pc != nil {
		binDir = pc.BinDir
	}
	binDir, err := sandbox.FindBinDir(binDir)
	if err != nil {
		t.Fatal(err)
	}
	major := serverMajor(t, binDir)
	settings := map[string]string{"cluster_name": "pgrb-facts", "max_connections": "37", "superuser_reserved_connections": "4"}
	wantReserved := 0
	if major >= 16 {
		settings["reserved_connections"], wantReserved = "2", 2
	}
	srv, err := sandbox.Start(ctx, sandbox.Options{BinDir: binDir, Settings: settings})
	if err != nil {
		t.Fatalf("starting a server of the test's own: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	c := connectClient(t, ctx, Options{DSN: srv.DSN("postgres")})
	s := snapshot(t, ctx, c).Server
	if s.ClusterName != "pgrb-facts" || s.MaxConnections != 37 || s.SuperuserReservedConnections != 4 || s.ReservedConnections != wantReserved {
		t.Errorf("cluster_name %q max_connections %d superuser_reserved_connections %d reserved_connections %d; want pgrb-facts, 37, 4, %d",
			s.ClusterName, s.MaxConnections, s.SuperuserReservedConnections, s.ReservedConnections, wantReserved)
	}
	if s.Host != srv.Host || s.Port != srv.Port || s.VersionNum/10000 != major || s.IsStandby {
		t.Errorf("host %q port %d version_num %d is_standby %v; want %q %d, major %d, false", s.Host, s.Port, s.VersionNum, s.IsStandby, srv.Host, srv.Port, major)
	}
	// One client backend: pgrunbook's.
	if s.ConnectionsUsed != 1 || s.ConnectionsFree != 37-4-wantReserved-1 {
		t.Errorf("connections_used %d free %d, want 1 and %d", s.ConnectionsUsed, s.ConnectionsFree, 37-4-wantReserved-1)
	}
}

// serverMajor returns the major version of the postgres binary in binDir.
func serverMajor(t *testing.T, binDir string) int {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		t.Fatalf("postgres --version: %v", err)
	}
	// "postgres (PostgreSQL) 15.8 (Debian 15.8-1)"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("postgres --version said %q", out)
	}
	major, err := strconv.Atoi(strings.SplitN(f[2], ".", 2)[0])
	if err != nil {
		t.Fatalf("postgres --version said %q: %v", out, err)
	}
	return major
}
