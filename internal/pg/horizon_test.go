package pg

import (
	"context"
	"strings"
	"testing"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/pg/pgtest"
)

// TestHorizonReadsSlotsAndPreparedTransactions stages what pins the xmin
// horizon besides sessions: a logical replication slot (it holds a
// catalog_xmin), a physical slot that reserves WAL but holds no xmin (it
// must not be listed), and a prepared transaction. Horizon must list the
// logical slot and the prepared transaction with their ages, on
// pgrunbook's read-only connection. Not parallel: creating a logical
// slot waits for every transaction with an xid to end, so it must not
// run beside tests that hold one (and it runs before the transaction is
// prepared, which it would wait for forever).
//
// The test cluster allows this because the sandbox starts it with
// max_prepared_transactions = 10 and wal_level = logical.
func TestHorizonReadsSlotsAndPreparedTransactions(t *testing.T) {
	ctx := pgtest.Context(t)
	db := newDB(t, "horizon")
	slot := strings.ReplaceAll(db.name, "-", "_") + "_logical"
	physical := strings.ReplaceAll(db.name, "-", "_") + "_physical"
	gid := "pgrunbook test " + db.name + " 'quoted'"

	if _, err := db.ctl.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot); err != nil {
		t.Fatalf("creating a logical slot (needs wal_level = logical): %v", err)
	}
	t.Cleanup(func() { dropSlot(t, db.name, slot) })
	if _, err := db.ctl.Exec(ctx, "SELECT pg_create_physical_replication_slot($1, true)", physical); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropSlot(t, db.name, physical) })

	prep := pgtest.ConnectTo(t, db.name)
	if _, err := prep.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := prep.Exec(ctx, "CREATE TABLE held (x int)"); err != nil {
		t.Fatal(err)
	}
	// PREPARE TRANSACTION takes a literal, not a parameter; the gid is
	// the test's own, quoted here as it must be.
	if _, err := prep.Exec(ctx, "PREPARE TRANSACTION "+quoteTestLiteral(gid)); err != nil {
		t.Fatalf("preparing a transaction (needs max_prepared_transactions > 0): %v", err)
	}
	t.Cleanup(func() {
		ctl := pgtest.ConnectTo(t, db.name)
		if _, err := ctl.Exec(context.Background(), "ROLLBACK PREPARED "+quoteTestLiteral(gid)); err != nil {
			t.Errorf("rolling back the prepared transaction: %v", err)
		}
	})
	// Later transactions with an xid make the holders' ages grow.
	const later = 5
	for range later {
		if _, err := db.ctl.Exec(ctx, "SELECT txid_current()"); err != nil {
			t.Fatal(err)
		}
	}

	c := connectClient(t, ctx, Options{DSN: db.dsn})
	h, err := c.Horizon(ctx)
	if err != nil {
		t.Fatalf("Horizon: %v", err)
	}
	var freeze int64
	if err := db.ctl.QueryRow(ctx, "SELECT current_setting('autovacuum_freeze_max_age')::bigint").Scan(&freeze); err != nil {
		t.Fatal(err)
	}
	if h.FreezeMaxAge != freeze || freeze == 0 {
		t.Errorf("autovacuum_freeze_max_age = %d, the server says %d", h.FreezeMaxAge, freeze)
	}
	if h.Taken.IsZero() {
		t.Error("the read has no time")
	}

	var logical *activity.ReplicationSlot
	for i := range h.Slots {
		switch h.Slots[i].Name {
		case slot:
			logical = &h.Slots[i]
		case physical:
			t.Errorf("the physical slot %s holds no xmin and is listed: %+v", physical, h.Slots[i])
		}
	}
	if logical == nil {
		t.Fatalf("the logical slot %s is not listed: %+v", slot, h.Slots)
	}
	if logical.Type != "logical" || logical.Plugin != "pgoutput" || logical.Database != db.name || logical.Active || logical.ActivePID != 0 {
		t.Errorf("logical slot: %+v", *logical)
	}
	if logical.CatalogXminAge < later || logical.XminAge != 0 {
		t.Errorf("logical slot ages: catalog_xmin %d (want at least %d), xmin %d (want 0: a logical slot has none)", logical.CatalogXminAge, later, logical.XminAge)
	}
	if logical.WALStatus == "" {
		t.Errorf("logical slot has no wal_status on PostgreSQL %s", c.Info().Version)
	}
	if got := logical.SuggestedStatement(); got != "SELECT pg_drop_replication_slot('"+slot+"');" {
		t.Errorf("suggested statement %q", got)
	}

	var px *activity.PreparedXact
	for i := range h.Prepared {
		if h.Prepared[i].GID == gid {
			px = &h.Prepared[i]
		}
	}
	if px == nil {
		t.Fatalf("the prepared transaction %q is not listed: %+v", gid, h.Prepared)
	}
	if px.Database != db.name || px.Owner != c.Info().User || px.XminAge < later {
		t.Errorf("prepared transaction: %+v (want database %s, owner %s, xmin age at least %d)", *px, db.name, c.Info().User, later)
	}
	if px.Prepared.IsZero() || px.Prepared.After(h.Taken) || px.PreparedRuntime != h.Taken.Sub(px.Prepared) {
		t.Errorf("prepared at %v, read at %v, prepared_runtime %v", px.Prepared, h.Taken, px.PreparedRuntime)
	}
	if got, want := px.SuggestedStatement(), "ROLLBACK PREPARED "+quoteTestLiteral(gid)+";"; got != want {
		t.Errorf("suggested statement %q, want %q", got, want)
	}
	// Nothing streams from this cluster with hot_standby_feedback.
	if len(h.Standbys) != 0 {
		t.Errorf("standbys on a cluster without any: %+v", h.Standbys)
	}
}

// TestHorizonSQLIsVersionAware: wal_status is read where the server has
// it (13 and later) and selected as NULL before.
func TestHorizonSQLIsVersionAware(t *testing.T) {
	if !strings.Contains(buildHorizonSQL(150000), "s.wal_status") || strings.Contains(buildHorizonSQL(120000), "s.wal_status") {
		t.Errorf("wal_status is not gated on the server version:\n%s", buildHorizonSQL(120000))
	}
}

func dropSlot(t *testing.T, dbname, slot string) {
	ctl := pgtest.ConnectTo(t, dbname)
	if _, err := ctl.Exec(context.Background(), "SELECT pg_drop_replication_slot($1)", slot); err != nil {
		t.Errorf("dropping slot %s: %v", slot, err)
	}
}

func quoteTestLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
