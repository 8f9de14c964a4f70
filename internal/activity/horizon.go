package activity

import (
	"fmt"
	"strings"
	"time"
)

// Horizon holds what pins the xmin horizon besides sessions: replication
// slots with an xmin or catalog_xmin, prepared transactions, and standbys
// whose hot_standby_feedback holds back vacuum on this server. VACUUM
// cannot remove a dead row that any of them may still see, however many
// sessions are ended. Playbook expressions see it under the id of a
// horizon step: holders.slots, holders.prepared, holders.standbys.
type Horizon struct {
	// Taken is the server's clock when the holders were read.
	Taken time.Time `expr:"-" json:"taken"`
	// Slots are the replication slots that hold an xmin or catalog_xmin
	// (pg_replication_slots), by name.
	Slots []ReplicationSlot `expr:"slots" json:"slots"`
	// Prepared are the prepared transactions (pg_prepared_xacts), oldest
	// first.
	Prepared []PreparedXact `expr:"prepared" json:"prepared"`
	// Standbys are the standbys connected with hot_standby_feedback on:
	// the rows of pg_stat_replication with a backend_xmin.
	Standbys []Standby `expr:"standbys" json:"standbys"`
	// FreezeMaxAge is the autovacuum_freeze_max_age setting: the xid age
	// at which autovacuum forces an anti-wraparound vacuum.
	FreezeMaxAge int64 `expr:"autovacuum_freeze_max_age" json:"autovacuum_freeze_max_age"`
}

// ReplicationSlot is a row of pg_replication_slots that holds back the
// xmin horizon.
type ReplicationSlot struct {
	Name string `expr:"slot_name" json:"slot_name"`
	// Type is physical or logical; Plugin the output plugin of a logical
	// slot.
	Type   string `expr:"slot_type" json:"slot_type"`
	Plugin string `expr:"plugin" json:"plugin,omitempty"`
	// Database is the database of a logical slot ("" for a physical one).
	Database string `expr:"database" json:"database,omitempty"`
	// Active says a client is streaming from the slot now, ActivePID is
	// that client's walsender.
	Active    bool `expr:"active" json:"active"`
	ActivePID int  `expr:"active_pid" json:"active_pid,omitempty"`
	// XminAge is age(xmin): set for a physical slot a standby with
	// hot_standby_feedback streams from. It holds back vacuum of every
	// table. CatalogXminAge is age(catalog_xmin): set for a logical slot;
	// it holds back vacuum of the system catalogs. 0 when null.
	XminAge        int64 `expr:"xmin_age" json:"xmin_age,omitempty"`
	CatalogXminAge int64 `expr:"catalog_xmin_age" json:"catalog_xmin_age,omitempty"`
	// WALStatus is wal_status (reserved, extended, unreserved, lost).
	WALStatus string `expr:"wal_status" json:"wal_status,omitempty"`
}

// PreparedXact is a row of pg_prepared_xacts: a transaction prepared for
// two-phase commit, which holds its locks and the xmin horizon until it
// is committed or rolled back, whatever happens to the session that
// prepared it. pg_blocking_pids reports it as pid 0.
type PreparedXact struct {
	GID      string    `expr:"gid" json:"gid"`
	Prepared time.Time `expr:"prepared" json:"prepared"`
	Owner    string    `expr:"owner" json:"owner,omitempty"`
	Database string    `expr:"database" json:"database,omitempty"`
	// XminAge is age(transaction): how far back it holds the horizon.
	XminAge int64 `expr:"xmin_age" json:"xmin_age"`
	// PreparedRuntime is how long ago it was prepared, at Horizon.Taken.
	PreparedRuntime time.Duration `expr:"prepared_runtime" json:"prepared_runtime"`
}

// Standby is a row of pg_stat_replication whose backend_xmin is set: a
// standby sending hot_standby_feedback, so that queries running there
// hold back vacuum here.
type Standby struct {
	// PID is the walsender serving the standby on this server.
	PID             int    `expr:"pid" json:"pid,omitempty"`
	Usename         string `expr:"usename" json:"usename,omitempty"`
	ApplicationName string `expr:"application_name" json:"application_name,omitempty"`
	ClientAddr      string `expr:"client_addr" json:"client_addr,omitempty"`
	State           string `expr:"state" json:"state,omitempty"`
	// XminAge is age(backend_xmin).
	XminAge int64 `expr:"xmin_age" json:"xmin_age"`
}

// Derive fills the fields relative to Taken.
func (h *Horizon) Derive() {
	for i := range h.Prepared {
		h.Prepared[i].PreparedRuntime = since(h.Taken, h.Prepared[i].Prepared)
	}
}

// Empty reports whether nothing but sessions could pin the horizon.
func (h *Horizon) Empty() bool {
	return len(h.Slots) == 0 && len(h.Prepared) == 0 && len(h.Standbys) == 0
}

// The statements below are guidance for a person: pgrunbook shows them
// and never runs them. Names are quoted as SQL literals so that what is
// shown can be pasted as it is.

// SuggestedStatement is what a DBA would run to release the slot, once
// sure nothing needs it any more: the client it serves must then start
// again from a new slot (a logical subscriber resynchronises).
func (s *ReplicationSlot) SuggestedStatement() string {
	return fmt.Sprintf("SELECT pg_drop_replication_slot(%s);", quoteLiteral(s.Name))
}

// SuggestedStatement is what a DBA would run, connected to the prepared
// transaction's database, to end it, once its transaction manager has
// given it up: its changes are discarded.
func (p *PreparedXact) SuggestedStatement() string {
	return fmt.Sprintf("ROLLBACK PREPARED %s;", quoteLiteral(p.GID))
}

// Suggestion says what a DBA would do about a standby's feedback: it is
// not something to run here, but on the standby.
func (s *Standby) Suggestion() string {
	return "on that standby, end the long query it runs, or turn off hot_standby_feedback there (ALTER SYSTEM SET hot_standby_feedback = off; SELECT pg_reload_conf();), accepting that its queries may then be cancelled by replication conflicts"
}

// quoteLiteral quotes s as an SQL string literal, for display.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
