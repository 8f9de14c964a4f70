package hoststat

import (
	"context"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Sampler gives the engine (engine.HostSampler) host facts from /proc when
// pgrunbook runs on the database host. A parallel worker's figures are
// added to its leader's, since the leader is what a playbook signals.
type Sampler struct{}

// Sample fills the host facts of the rows that could be measured; an
// error (the server is remote, the OS is not Linux) leaves every row
// without them.
func (Sampler) Sample(ctx context.Context, rows []activity.Session, interval time.Duration) error {
	backends := make([]Backend, 0, len(rows))
	for i := range rows {
		if !rows[i].BackendStart.IsZero() {
			backends = append(backends, Backend{PID: rows[i].PID, BackendStart: rows[i].BackendStart})
		}
	}
	stats, err := Sample(ctx, backends, interval)
	if err != nil {
		return err
	}
	index := make(map[int]int, len(rows))
	for i := range rows {
		index[rows[i].PID] = i
	}
	for i := range rows {
		st, ok := stats[rows[i].PID]
		if !ok {
			continue
		}
		r := &rows[i]
		r.HostStats = true
		r.CPUPercent, r.MemoryBytes = st.CPUPercent, st.MemoryBytes
		r.IOReadRate, r.IOWriteRate = st.ReadBytesPerSec, st.WriteBytesPerSec
	}
	for i := range rows {
		w := &rows[i]
		if w.LeaderPID == 0 || w.LeaderPID == w.PID || !w.HostStats {
			continue
		}
		if j, ok := index[w.LeaderPID]; ok && rows[j].HostStats {
			l := &rows[j]
			l.CPUPercent += w.CPUPercent
			l.MemoryBytes += w.MemoryBytes
			l.IOReadRate += w.IOReadRate
			l.IOWriteRate += w.IOWriteRate
		}
	}
	return nil
}
