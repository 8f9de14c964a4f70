package engine

import (
	"context"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// horizon reads what pins the xmin horizon besides sessions and records
// it. Nothing here is ever signalled or run: the statements a DBA would
// use are shown as guidance by whoever renders the event.
//
// Round trips: one statement.
func (r *runner) horizon(ctx context.Context, st *playbook.Step) error {
	h, err := r.readHorizon(ctx)
	if err != nil {
		return err
	}
	if h.Slots == nil {
		h.Slots = []activity.ReplicationSlot{}
	}
	if h.Prepared == nil {
		h.Prepared = []activity.PreparedXact{}
	}
	if h.Standbys == nil {
		h.Standbys = []activity.Standby{}
	}
	r.scope.Put(st.ID, *h)
	ev := r.stepEvent(st, transcript.Horizon)
	ev.Holders = h
	return r.emit(ev)
}

// readHorizon reads the horizon's holders, restoring a lost connection
// and reading again as snapshot does: reading is safe to repeat.
func (r *runner) readHorizon(ctx context.Context) (*activity.Horizon, error) {
	return readAgain(ctx, r, r.db.Horizon)
}
