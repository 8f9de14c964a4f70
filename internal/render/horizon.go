package render

import (
	"fmt"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/transcript"
)

// horizon shows what pins the xmin horizon besides sessions, each with
// its age and what a DBA would do about it. pgrunbook runs none of it.
func (r *Renderer) horizon(ev transcript.Event) {
	w, h := r.W, ev.Holders
	if h == nil {
		return
	}
	if h.Empty() {
		fmt.Fprintln(w, "    nothing pins the xmin horizon besides sessions: no replication slot holds an xmin, no transaction is prepared, no standby sends hot_standby_feedback")
		return
	}
	fmt.Fprintf(w, "    the xmin horizon is also held by (autovacuum_freeze_max_age %d):\n", h.FreezeMaxAge)
	for i := range h.Slots {
		s := &h.Slots[i]
		fmt.Fprintf(w, "      replication slot %s (%s): %s\n", s.Name, slotDetails(s), ageText(s.XminAge, s.CatalogXminAge, h.FreezeMaxAge))
		fmt.Fprintf(w, "        a DBA would run, once sure its client is gone for good: %s\n", s.SuggestedStatement())
	}
	for i := range h.Prepared {
		p := &h.Prepared[i]
		fmt.Fprintf(w, "      prepared transaction %q (owner %s, database %s, prepared %s ago): xmin age %d%s\n",
			p.GID, orDash(p.Owner), orDash(p.Database), Duration(p.PreparedRuntime), p.XminAge, share(p.XminAge, h.FreezeMaxAge))
		fmt.Fprintf(w, "        a DBA would run, connected to database %s, once its transaction manager has given it up: %s\n", orDash(p.Database), p.SuggestedStatement())
	}
	for i := range h.Standbys {
		s := &h.Standbys[i]
		fmt.Fprintf(w, "      standby %s (%s): xmin age %d%s\n", standbyName(s), s.State, s.XminAge, share(s.XminAge, h.FreezeMaxAge))
		fmt.Fprintf(w, "        a DBA would, %s\n", s.Suggestion())
	}
	fmt.Fprintln(w, "    (guidance only: pgrunbook runs none of these statements)")
}

func slotDetails(s *activity.ReplicationSlot) string {
	parts := []string{s.Type}
	if s.Plugin != "" {
		parts = append(parts, "plugin "+s.Plugin)
	}
	if s.Database != "" {
		parts = append(parts, "database "+s.Database)
	}
	if s.Active {
		parts = append(parts, fmt.Sprintf("active, pid %d", s.ActivePID))
	} else {
		parts = append(parts, "inactive")
	}
	if s.WALStatus != "" {
		parts = append(parts, "wal "+s.WALStatus)
	}
	return strings.Join(parts, ", ")
}

func ageText(xmin, catalog, freeze int64) string {
	var parts []string
	if xmin > 0 {
		parts = append(parts, fmt.Sprintf("xmin age %d%s", xmin, share(xmin, freeze)))
	}
	if catalog > 0 {
		parts = append(parts, fmt.Sprintf("catalog_xmin age %d%s (holds back vacuum of the system catalogs)", catalog, share(catalog, freeze)))
	}
	return strings.Join(parts, ", ")
}

// share says how far an age is towards autovacuum_freeze_max_age, once
// it is at least 1% of the way.
func share(age, freeze int64) string {
	if freeze <= 0 || age*100 < freeze {
		return ""
	}
	return fmt.Sprintf(" (%d%% of autovacuum_freeze_max_age)", age*100/freeze)
}

func standbyName(s *activity.Standby) string {
	name := s.ApplicationName
	if name == "" {
		name = "(no application_name)"
	}
	if s.ClientAddr != "" {
		name += " at " + s.ClientAddr
	}
	if s.PID > 0 {
		name += fmt.Sprintf(", walsender pid %d", s.PID)
	}
	return name
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
