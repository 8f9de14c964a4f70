package activity

import (
	"time"
)

// ClientBackend is the backend_type of an ordinary client session, the only
// kind pgrunbook signals unless a playbook names another kind explicitly.
const ClientBackend = "client backend"

// States of pg_stat_activity that playbooks and the engine name.
const (
	StateActive                   = "active"
	StateIdle                     = "idle"
	StateIdleInTransaction        = "idle in transaction"
	StateIdleInAbortedTransaction = "idle in transaction (aborted)"
	// StateStarting is PostgreSQL 18's state of a backend that is still
	// authenticating its client: it has no identity to check yet.
	StateStarting = "starting"
)

// HiddenQuery is the text PostgreSQL shows in place of another role's query
// when the reader lacks pg_read_all_stats.
const HiddenQuery = "<insufficient privilege>"

// Session is one row of pg_stat_activity with derived fields. Null columns
// are zero values: "" for text, 0 for numbers, the zero time for timestamps.
// Field tags name the fields as playbook expressions and transcripts see
// them, which are the catalog's column names.
type Session struct {
	PID             int       `expr:"pid" json:"pid"`
	Datname         string    `expr:"datname" json:"datname,omitempty"`
	Usename         string    `expr:"usename" json:"usename,omitempty"`
	ApplicationName string    `expr:"application_name" json:"application_name,omitempty"`
	ClientAddr      string    `expr:"client_addr" json:"client_addr,omitempty"`
	ClientHostname  string    `expr:"client_hostname" json:"client_hostname,omitempty"`
	ClientPort      int       `expr:"client_port" json:"client_port,omitempty"`
	BackendStart    time.Time `expr:"backend_start" json:"backend_start"`
	XactStart       time.Time `expr:"xact_start" json:"xact_start"`
	QueryStart      time.Time `expr:"query_start" json:"query_start"`
	StateChange     time.Time `expr:"state_change" json:"state_change"`
	WaitEventType   string    `expr:"wait_event_type" json:"wait_event_type,omitempty"`
	WaitEvent       string    `expr:"wait_event" json:"wait_event,omitempty"`
	State           string    `expr:"state" json:"state,omitempty"`
	BackendXID      string    `expr:"backend_xid" json:"backend_xid,omitempty"`
	BackendXmin     string    `expr:"backend_xmin" json:"backend_xmin,omitempty"`
	Query           string    `expr:"query" json:"query,omitempty"`
	BackendType     string    `expr:"backend_type" json:"backend_type,omitempty"`
	LeaderPID       int       `expr:"leader_pid" json:"leader_pid,omitempty"`
	QueryID         int64     `expr:"query_id" json:"query_id,omitempty"`

	// Derived fields, relative to the snapshot's time.
	QueryRuntime   time.Duration `expr:"query_runtime" json:"query_runtime"`
	XactRuntime    time.Duration `expr:"xact_runtime" json:"xact_runtime"`
	StateRuntime   time.Duration `expr:"state_runtime" json:"state_runtime"`
	BackendRuntime time.Duration `expr:"backend_runtime" json:"backend_runtime"`
	// BlockedBy lists the pids this session waits for (pg_blocking_pids),
	// read only for sessions waiting on a lock.
	BlockedBy []int `expr:"blocked_by" json:"blocked_by,omitempty"`
	// RootBlockers lists, for a session waiting on a lock, the sessions at
	// the heads of its lock chains: those it waits for, directly or through
	// others, that wait on nobody themselves.
	RootBlockers []int `expr:"root_blockers" json:"root_blockers,omitempty"`
	// Blocking counts the sessions of the snapshot that wait on this one.
	Blocking int `expr:"blocking" json:"blocking,omitempty"`
	// IsRootBlocker is true for a session that blocks others and waits on
	// nobody: ending it is what releases a lock chain.
	IsRootBlocker bool `expr:"is_root_blocker" json:"is_root_blocker,omitempty"`
	// IsSelf marks pgrunbook's own backend, which is never a target.
	IsSelf bool `expr:"is_self" json:"is_self,omitempty"`

	// Statement facts, derived from the query text (see CommandOf).
	// Command is the statement's command tag in upper case: SELECT,
	// UPDATE, ALTER TABLE, CREATE INDEX, VACUUM, COPY, AUTOVACUUM, ...;
	// "" when there is no statement text.
	Command string `expr:"command" json:"command,omitempty"`
	// IsDDL is true for statements that change the schema or its
	// permissions (CREATE, ALTER, DROP, TRUNCATE, REINDEX, CLUSTER, ...):
	// the ones that take strong locks and are meant to be retried.
	IsDDL bool `expr:"is_ddl" json:"is_ddl,omitempty"`
	// XactAborted is true for a session idle in a failed transaction
	// ("idle in transaction (aborted)"): it holds no locks and no
	// snapshot, only a connection.
	XactAborted bool `expr:"xact_aborted" json:"xact_aborted,omitempty"`
	// IsWraparoundVacuum marks an autovacuum worker that runs to prevent
	// transaction ID wraparound: it does not yield to conflicting locks
	// and cancelling it only postpones freezing.
	IsWraparoundVacuum bool `expr:"is_wraparound_vacuum" json:"is_wraparound_vacuum,omitempty"`

	// Horizon facts. XminAge is age(backend_xmin) and XidAge is
	// age(backend_xid), in transactions; 0 when the column is null.
	XminAge int64 `expr:"xmin_age" json:"xmin_age,omitempty"`
	XidAge  int64 `expr:"xid_age" json:"xid_age,omitempty"`

	// Lock facts, read from pg_locks only for sessions that wait on a
	// lock or block one (see Snapshot.Derive).
	//
	// WaitLockType is the pg_locks locktype of the lock the session waits
	// for: relation, tuple, transactionid, advisory, ...
	WaitLockType string `expr:"wait_lock_type" json:"wait_lock_type,omitempty"`
	// WaitLockMode is the mode it requests, e.g. AccessExclusiveLock.
	WaitLockMode string `expr:"wait_lock_mode" json:"wait_lock_mode,omitempty"`
	// WaitRelation is the schema-qualified relation of that lock when it
	// is on a relation (or on a tuple or page of one) of the connected
	// database or a shared catalog; "" otherwise.
	WaitRelation string `expr:"wait_relation" json:"wait_relation,omitempty"`
	// LockWaitRuntime is how long the session has waited for the lock
	// (pg_locks.waitstart, PostgreSQL 14 and later; 0 before).
	LockWaitRuntime time.Duration `expr:"lock_wait_runtime" json:"lock_wait_runtime,omitempty"`
	// HardBlockedBy lists the blockers of BlockedBy that hold a lock
	// conflicting with the one requested; SoftBlockedBy those that only
	// wait ahead of it in the lock's queue (PostgreSQL queues lock
	// requests first come, first served).
	HardBlockedBy []int `expr:"hard_blocked_by" json:"hard_blocked_by,omitempty"`
	SoftBlockedBy []int `expr:"soft_blocked_by" json:"soft_blocked_by,omitempty"`
	// HeldLockMode is the strongest heavyweight lock mode the session
	// holds (granted), for sessions that wait or block; the ExclusiveLock
	// every transaction holds on its own virtualxid does not count.
	HeldLockMode string `expr:"held_lock_mode" json:"held_lock_mode,omitempty"`
	// BlockingTotal counts every session waiting on this one, directly
	// or through others: the size of the lock tree under it.
	BlockingTotal int `expr:"blocking_total" json:"blocking_total,omitempty"`
	// Locks are the session's rows of pg_locks, read only for sessions
	// that wait or block; the lock facts above are derived from them.
	// They are not recorded in transcripts (the derived facts are).
	Locks []Lock `expr:"-" json:"-"`

	// Host facts, read from the operating system when pgrunbook runs on
	// the database host (see the hoststat package). HostStats is false
	// when they were not read; the others are then 0.
	HostStats bool `expr:"host_stats" json:"host_stats,omitempty"`
	// CPUPercent is the backend's share of one CPU over the sampling
	// interval (user and system time).
	CPUPercent float64 `expr:"cpu_percent" json:"cpu_percent,omitempty"`
	// MemoryBytes is the backend's resident private memory.
	MemoryBytes int64 `expr:"memory_bytes" json:"memory_bytes,omitempty"`
	// IOReadRate and IOWriteRate are bytes per second read from and
	// written to storage over the sampling interval.
	IOReadRate  float64 `expr:"io_read_rate" json:"io_read_rate,omitempty"`
	IOWriteRate float64 `expr:"io_write_rate" json:"io_write_rate,omitempty"`

	// ---- Pooled backends (issue 10, pooler.go in package pg) ----
	// A backend whose client is a connection pooler serves the pooler's
	// clients in turn: its client_addr/client_port are the pooler's, and
	// its application_name may be the previous client's.

	// ViaPooler marks a backend whose client is a connection pooler.
	ViaPooler bool `expr:"via_pooler" json:"via_pooler,omitempty"`
	// PoolerReason says how that was told: the --pooler console's SHOW
	// SERVERS, or the application_name a pooler sets.
	PoolerReason string `expr:"pooler_reason" json:"pooler_reason,omitempty"`
	// PoolMode is the pool's mode (session, transaction, statement), known
	// from the --pooler console only.
	PoolMode string `expr:"pool_mode" json:"pool_mode,omitempty"`
	// PoolerClientAddr, PoolerClientPort and PoolerClientApp are the
	// pooler's client linked to this backend now (SHOW CLIENTS addr,
	// port, application_name), from the --pooler console; empty when no
	// client is linked.
	PoolerClientAddr string `expr:"pooler_client_addr" json:"pooler_client_addr,omitempty"`
	PoolerClientPort int    `expr:"pooler_client_port" json:"pooler_client_port,omitempty"`
	PoolerClientApp  string `expr:"pooler_client_app" json:"pooler_client_app,omitempty"`
	// PoolerClientUser and PoolerClientConnected are that client's role
	// and when it connected to the pooler, for the record.
	PoolerClientUser      string    `json:"pooler_client_user,omitempty"`
	PoolerClientConnected time.Time `json:"pooler_client_connect_time,omitzero"`
}

// PoolerLinked reports whether the --pooler console names a client linked
// to this pooled backend now.
func (s *Session) PoolerLinked() bool {
	return s.PoolerClientAddr != "" || s.PoolerClientPort != 0
}

// Hidden reports whether the row's identity is invisible to the reader
// (another role's session without pg_read_all_stats). Such a row can be
// shown but never targeted, because its identity cannot be checked.
func (s *Session) Hidden() bool {
	return s.BackendStart.IsZero() || s.Query == HiddenQuery
}

// Identity is what makes a session the same session over time: its pid
// and the start of its backend. QueryStart identifies the running statement
// and is checked too when a statement, not a session, is the target;
// XactStart identifies the open transaction, checked before a terminate.
type Identity struct {
	PID          int       `json:"pid"`
	BackendStart time.Time `json:"backend_start"`
	QueryStart   time.Time `json:"query_start,omitzero"`
	XactStart    time.Time `json:"xact_start,omitzero"`
}

// Identity returns the session's identity.
func (s *Session) Identity() Identity {
	return Identity{PID: s.PID, BackendStart: s.BackendStart, QueryStart: s.QueryStart, XactStart: s.XactStart}
}

// SessionKey is a session's identity as a map key: its pid and the start
// of its backend, to the nanosecond. Query and transaction starts are left
// out: the key names the session, not what it runs. (A time.Time is no
// key: one instant can carry different locations and monotonic readings.)
type SessionKey struct {
	PID          int
	BackendStart int64
}

// Key is the identity's SessionKey.
func (id Identity) Key() SessionKey {
	return SessionKey{PID: id.PID, BackendStart: id.BackendStart.UnixNano()}
}

// Key is the session's SessionKey.
func (s *Session) Key() SessionKey { return s.Identity().Key() }

// SameSession reports whether two rows describe the same backend.
func (s *Session) SameSession(o *Session) bool {
	return s.PID == o.PID && s.BackendStart.Equal(o.BackendStart)
}

// PIDs lists the pids of sessions, in order.
func PIDs(rows []Session) []int {
	out := make([]int, len(rows))
	for i := range rows {
		out[i] = rows[i].PID
	}
	return out
}
