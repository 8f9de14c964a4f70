package rehearse

import "time"

// Kind is what a staged session does, and so how a good run treats it.
type Kind int

// The kinds of staged sessions.
const (
	// LongQuery is a culprit running a long statement: cancel it, and
	// its session stays connected.
	LongQuery Kind = iota
	// StubbornQuery is a culprit whose statement catches query_canceled:
	// its cancel is ignored, so it must be terminated.
	StubbornQuery
	// IdleInTransaction is a culprit idle in a transaction that holds a
	// row lock: cancel does nothing, terminate rolls it back.
	IdleInTransaction
	// ClientNotReading is a culprit blocked sending rows to a client that
	// stopped reading (wait event ClientWrite): only terminate works.
	ClientNotReading
	// QueuedWriter is a victim: an UPDATE waiting for the row lock, which
	// must commit once the lock is released.
	QueuedWriter
	// Backup is a bystander that behaves like pg_dump: application
	// pg_dump, a REPEATABLE READ transaction holding AccessShareLock on
	// the lock table, running a slow COPY ... TO STDOUT. Long, but to be
	// left alone (the shipped playbooks protect it).
	Backup
	// IdleBystander is a bystander connected and idle.
	IdleBystander
	// QueuedDDL is a culprit: an ALTER TABLE ... ADD COLUMN waiting for
	// its AccessExclusiveLock behind the backup's AccessShareLock, with
	// reads queued behind it. Cancel it (migrations retry); its session
	// stays and its column is not added.
	QueuedDDL
	// QueuedReader is a victim: a plain SELECT of the table queued behind
	// the ALTER, which must complete once the ALTER is gone.
	QueuedReader
	// SnapshotHolder is a culprit idle in a REPEATABLE READ transaction
	// that has read, so its snapshot pins the xmin horizon while pgbench
	// updates: terminate it (cancel does nothing).
	SnapshotHolder
	// StormQuery is a culprit, one session of a query storm: the same
	// statement from one application, re-issued shortly after a cancel.
	// Cancel it; its session stays (and the storm comes back).
	StormQuery
	// IdleFlood is a culprit: one application's idle sessions, opened as
	// an ordinary role until the server refuses more (SQLSTATE 53300).
	// One entry in a cast stages the whole flood; terminating enough of
	// them frees slots.
	IdleFlood
	// OtherApp is a bystander: an idle session of another application,
	// logged in as another ordinary role.
	OtherApp
	// DeadClient is a culprit: an idle session whose client host is gone,
	// connected from deadClientAddr and never used again: terminate it.
	DeadClient
	// CPUHog is a culprit running a statement that burns a CPU core of
	// the database host: cancel it, and its session stays.
	CPUHog
)

// Role is what a kind of session is to the incident.
type Role int

// Roles of staged sessions.
const (
	Culprit Role = iota
	Victim
	Bystander
)

// naming says how the sessions of one kind are told apart.
type naming int

const (
	// single: one session, named by its application.
	single naming = iota
	// numberedApps: each session has its own application, app-N.
	numberedApps
	// sharedApp: the sessions share one application; the report names
	// them app#N.
	sharedApp
)

// kindInfo describes a kind for the report.
type kindInfo struct {
	app    string // application_name (see naming)
	role   Role
	what   string // staged as
	expect string // what a good run does
	naming naming
}

var kinds = map[Kind]kindInfo{
	LongQuery:         {app: "reporting", role: Culprit, what: "long report query", expect: "cancel the statement; the session stays"},
	StubbornQuery:     {app: "etl", role: Culprit, what: "DO block that catches query_canceled", expect: "cancel is ignored: terminate"},
	IdleInTransaction: {app: "forgot-to-commit", role: Culprit, what: "idle in transaction, holding the row lock", expect: "terminate (cancel cannot help)"},
	ClientNotReading:  {app: "export", role: Culprit, what: "blocked sending rows to a client that stopped reading", expect: "cancel stays pending: terminate"},
	QueuedWriter:      {app: "checkout", role: Victim, what: "UPDATE waiting for the row lock", expect: "must commit once the lock is free", naming: numberedApps},
	Backup:            {app: "pg_dump", role: Bystander, what: "nightly backup, a slow COPY holding AccessShareLock", expect: "leave alone (protected)"},
	IdleBystander:     {app: "bystander", role: Bystander, what: "idle session", expect: "leave alone"},
	QueuedDDL:         {app: "migrate", role: Culprit, what: "ALTER TABLE waiting for AccessExclusiveLock", expect: "cancel it: the queue drains; the session stays"},
	QueuedReader:      {app: "storefront", role: Victim, what: "SELECT queued behind the ALTER", expect: "must complete once the ALTER is gone", naming: numberedApps},
	SnapshotHolder:    {app: "analytics", role: Culprit, what: "idle in a REPEATABLE READ transaction: pins xmin", expect: "terminate (cancel cannot help)"},
	StormQuery:        {app: "api", role: Culprit, what: "the storm's statement, re-issued after a cancel", expect: "cancel it; the session stays", naming: sharedApp},
	IdleFlood:         {app: "webapp", role: Culprit, what: "idle, one of a pool that fills every slot", expect: "terminate enough to free slots", naming: sharedApp},
	OtherApp:          {app: "billing", role: Bystander, what: "idle, another application's pool", expect: "leave alone", naming: sharedApp},
	DeadClient:        {app: "worker", role: Culprit, what: "idle, from " + deadClientAddr + ", a host that is gone", expect: "terminate", naming: sharedApp},
	CPUHog:            {app: "adhoc", role: Culprit, what: "runaway statement burning a CPU core", expect: "cancel the statement; the session stays"},
}

// Role returns the kind's role.
func (k Kind) Role() Role { return kinds[k].role }

// cancellable reports whether a cancel is the whole remedy for a culprit
// of this kind: its statement stops and its session stays, so a
// terminate is collateral damage.
func (k Kind) cancellable() bool {
	switch k {
	case LongQuery, QueuedDDL, StormQuery, CPUHog:
		return true
	}
	return false
}

// The staged world.
const (
	// Database is the database a rehearsal creates and stages in.
	Database = "rehearsal"
	// lockTable holds the row the idle transaction keeps locked; the
	// backup locks it, the ALTER alters it, the queued reads read it.
	lockTable = "stock"
	lockRow   = 1
	// ddlColumn is the column the queued ALTER would add.
	ddlColumn = "note"
	// stagedFor is how long staged statements would run on their own:
	// far longer than any rehearsal.
	stagedFor = 10 * time.Minute
	// deadClientAddr is the client address of the host that is gone: on
	// Linux every 127/8 address is the loopback interface.
	deadClientAddr = "127.0.0.2"
	// floodSessions is how many idle sessions fill the server in
	// connection-exhaustion (max_connections is sized for it).
	floodSessions = 12
	// reservedSlots is superuser_reserved_connections there.
	reservedSlots = 3
	// minFreeSlots is how many ordinary slots a good run frees there.
	minFreeSlots = 5
	// stormPause is how long a storm session waits after a cancel before
	// it re-issues its statement.
	stormPause = 300 * time.Millisecond
	// stormSQL is the storm's statement.
	stormSQL = "SELECT n, pg_sleep(600) FROM stock WHERE id = 1"
)
