package rehearse

import (
	"context"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/incident"
	"github.com/pgrunbook/pgrunbook/internal/pg"
)

// worldBefore is what staging saw of the incident as a whole, beyond its
// sessions.
type worldBefore struct {
	// locks are pg_locks on the lock table (with a QueuedDDL).
	locks []incident.RelationLock
	// slots are the connection slots once the flood filled them, and
	// refused the flood's refused connection (with an IdleFlood).
	slots     incident.Slots
	slotsRead bool
	refused   *incident.Refusal
	// pinnedXmin is the SnapshotHolder's backend_xmin.
	pinnedXmin string
}

// read records what the server shows of the staged incident.
func (w *worldBefore) read(ctx context.Context, dsn string, sc Scenario) error {
	var err error
	if sc.has(QueuedDDL) {
		if w.locks, err = incident.RelationLocks(ctx, dsn, lockTable); err != nil {
			return err
		}
	}
	if sc.has(IdleFlood) {
		if w.slots, err = incident.ConnectionSlots(ctx, dsn); err != nil {
			return err
		}
		w.slotsRead = true
	}
	return nil
}

// worldAfter is what the rehearsal sees of the incident as a whole after
// the playbooks.
type worldAfter struct {
	// columnExists: the ALTER's column exists (with a QueuedDDL); locks
	// are pg_locks on the lock table.
	columnExists bool
	locks        []incident.RelationLock
	// slots and connectErr, the answer to a new connection as the
	// flood's role (with an IdleFlood).
	slots      incident.Slots
	connectErr error
	// holders hold the pinned xmin or an older one (with a
	// SnapshotHolder).
	holders []incident.XminHolder
	// cpu is the CPU time each CPUHog had used, where it can be read.
	cpu map[*staged]time.Duration
	// storm holds each StormQuery's runs and cancels as its client saw
	// them.
	storm map[*staged]stormFacts
}

// stormFacts is what a storm session's client saw.
type stormFacts struct{ runs, cancels int }

// connectRetry bounds the wait for a slot that was just freed: a backend
// gives its slot back a moment after it left pg_stat_activity.
const connectRetry = 2 * time.Second

// observeWorld reads what the scenario's incident-wide checks need.
func (r *rehearsal) observeWorld(ctx context.Context, dry bool) (worldAfter, error) {
	sc := r.opts.Scenario
	w := worldAfter{cpu: map[*staged]time.Duration{}, storm: map[*staged]stormFacts{}}
	var err error
	if sc.has(QueuedDDL) {
		if w.columnExists, err = incident.ColumnExists(ctx, r.dsn, lockTable, ddlColumn); err != nil {
			return w, err
		}
		if w.locks, err = incident.RelationLocks(ctx, r.dsn, lockTable); err != nil {
			return w, err
		}
	}
	if sc.has(IdleFlood) {
		if w.slots, err = freeSlots(ctx, r.dsn, !dry); err != nil {
			return w, err
		}
		w.connectErr = connectAs(ctx, r.dsn, kinds[IdleFlood].app, !dry)
	}
	if holder := r.cast.ofKind(SnapshotHolder); len(holder) > 0 {
		if w.holders, err = incident.XminHolders(ctx, r.dsn, r.cast.before.pinnedXmin); err != nil {
			return w, err
		}
	}
	for _, s := range r.cast.ofKind(CPUHog) {
		if used, err := incident.CPUTime(s.pid); err == nil {
			w.cpu[s] = used
		}
	}
	for _, s := range r.cast.ofKind(StormQuery) {
		w.storm[s] = stormFacts{runs: s.storm.Runs(), cancels: s.storm.Cancels()}
	}
	return w, nil
}

// freeSlots reads the connection slots; with wait it reads them again
// for up to connectRetry until minFreeSlots are free, since backends that
// were terminated (and the playbook's own connection) leave a moment
// after they were signalled, and nothing else connects meanwhile.
func freeSlots(ctx context.Context, dsn string, wait bool) (incident.Slots, error) {
	deadline := time.Now().Add(connectRetry)
	for {
		slots, err := incident.ConnectionSlots(ctx, dsn)
		if err != nil || !wait || slots.Free() >= minFreeSlots || time.Now().After(deadline) {
			return slots, err
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return slots, err
		}
	}
}

// connectAs tries a new connection as role; with retry it tries again
// for up to connectRetry while the server says too many connections.
func connectAs(ctx context.Context, dsn, role string, retry bool) error {
	deadline := time.Now().Add(connectRetry)
	for {
		err := incident.CanConnect(ctx, dsn, role)
		if err == nil || !retry || pg.SQLState(err) != incident.SQLStateTooManyConnections || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
