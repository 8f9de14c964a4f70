package engine

import (
	"github.com/pgrunbook/pgrunbook/internal/playbook"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// summarize groups the sessions of a set and records the groups, largest
// first; later expressions see them under the step's id.
func (r *runner) summarize(st *playbook.Step) error {
	s := st.Summarize
	rows := r.scope.Sessions(s.From)
	groups, total := s.Groups(rows)
	r.scope.Put(st.ID, s.Value(groups))
	sum := &transcript.GroupSummary{By: s.By, Groups: []transcript.Group{}, Sessions: len(rows), TotalGroups: total}
	for i := range groups {
		g := &groups[i]
		sum.Groups = append(sum.Groups, transcript.Group{Key: g.Key(), Count: g.Count, PIDs: g.PIDs})
	}
	ev := r.stepEvent(st, transcript.Summary)
	ev.Set, ev.Groups = st.ID, sum
	return r.emit(ev)
}
