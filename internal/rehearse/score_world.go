package rehearse

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pgrunbook/pgrunbook/internal/activity"
	"github.com/pgrunbook/pgrunbook/internal/incident"
)

// Section titles of the incident-wide checks, each saying what it checks.
const (
	secLockQueue = "Lock queue on " + lockTable + ": the ALTER cancelled, the backup kept, the queue drained"
	secSlots     = "Connection slots: an application can connect again"
	secHorizon   = "xmin horizon: released"
	secStorm     = "Query storm: cancelled, came back, and the operator was told"
)

// StormReturnedPattern recognises the note by which a playbook tells the
// operator that a cancelled query storm came back (its title or text).
// The query-storm scenario requires such a note, written after a cancel
// in the same run; a playbook that words it otherwise must match this
// pattern (or the pattern must grow).
var StormReturnedPattern = regexp.MustCompile(`(?i)\b(came|comes|come|is|are) back\b|\breturned\b|\bback again\b|\bre-?issued\b|\brecurr`)

// scoreWorld adds the checks of the incident as a whole that the
// scenario's cast calls for.
func scoreWorld(c *Scorecard, o *observation, dry bool) {
	if len(o.cast.ofKind(QueuedDDL)) > 0 {
		scoreLockQueue(c, o, dry)
	}
	if len(o.cast.ofKind(IdleFlood)) > 0 {
		scoreSlots(c, o, dry)
	}
	if len(o.cast.ofKind(SnapshotHolder)) > 0 {
		scoreHorizon(c, o, dry)
	}
	if len(o.cast.ofKind(StormQuery)) > 0 {
		scoreStorm(c, o, dry)
	}
}

// scoreLockQueue: the ALTER's column was not added, nothing waits for a
// lock on the table any more, and the backup still holds its lock.
func scoreLockQueue(c *Scorecard, o *observation, dry bool) {
	w := o.world
	column := fmt.Sprintf("column %s of %s", ddlColumn, lockTable)
	if dry {
		same := slices.Equal(o.cast.before.locks, w.locks)
		c.add(secLockQueue, same, Integrity, "pg_locks on %s as staged: %s", lockTable, o.cast.lockQueue(w.locks))
		c.add(secLockQueue, !w.columnExists, Integrity, "%s: %s", column, map[bool]string{true: "EXISTS: the ALTER ran", false: "absent: the ALTER still waits"}[w.columnExists])
		return
	}
	if w.columnExists {
		c.add(secLockQueue, false, Resolution, "%s EXISTS: the ALTER ran, so the lock it waited for was taken from the backup instead of the ALTER being cancelled", column)
	} else {
		c.add(secLockQueue, true, Resolution, "%s: absent: the ALTER was stopped before it got its lock (a migration retries it later, with a lock_timeout)", column)
	}
	var waiting []incident.RelationLock
	for _, l := range w.locks {
		if !l.Granted {
			waiting = append(waiting, l)
		}
	}
	c.add(secLockQueue, len(waiting) == 0, Resolution, "sessions still waiting for a lock on %s: %s", lockTable, locksOrNone(o.cast, waiting))
	for _, b := range o.cast.ofKind(Backup) {
		holds := false
		for _, l := range w.locks {
			holds = holds || (l.PID == b.pid && l.Granted && l.Mode == "AccessShareLock")
		}
		c.add(secLockQueue, holds, Collateral, "%s still holds its AccessShareLock on %s: %s", label(b), lockTable, yesNo(holds))
	}
}

// scoreFlood judges the flood of idle sessions as one pool: how many were
// terminated. Whether that was enough is scoreSlots' check.
func scoreFlood(c *Scorecard, o *observation, dry bool) {
	flood := o.cast.ofKind(IdleFlood)
	if len(flood) == 0 {
		return
	}
	app := kinds[IdleFlood].app
	var gone, present, cancels, signalled, would int
	for _, s := range flood {
		f := o.facts[s]
		if f.live == nil {
			gone++
		} else if f.live.State == "idle" {
			present++
		}
		if o.rec.sent(s.pid, activity.Cancel) {
			cancels++
		}
		if o.rec.signalled(s.pid) {
			signalled++
		}
		if o.rec.wouldSend(s.pid, activity.Terminate) {
			would++
		}
	}
	if dry {
		c.add(secCulprits, present == len(flood) && signalled == 0, Integrity,
			"%s: %d of %d idle sessions still there, untouched; %d signalled; the dry run recorded a terminate for %d of them",
			app, present, len(flood), signalled, would)
		return
	}
	extra := ""
	if cancels > 0 {
		extra = fmt.Sprintf("; %d cancel(s) sent to idle sessions, which does nothing", cancels)
	}
	c.add(secCulprits, gone > 0, Resolution, "%s: %d of %d idle sessions terminated and gone (an idle session frees its slot only when terminated); %d still connected%s",
		app, gone, len(flood), len(flood)-gone, extra)
}

// scoreSlots: staged full, at least minFreeSlots ordinary slots free
// afterwards, and a new session of the flooding role gets in.
func scoreSlots(c *Scorecard, o *observation, dry bool) {
	b, w := o.cast.before, o.world
	app := kinds[IdleFlood].app
	refused := "no connection was refused"
	if b.refused != nil {
		refused = fmt.Sprintf("%s's next connection was refused with SQLSTATE %s", app, b.refused.Code)
	}
	c.add(secSlots, b.slots.Free() == 0 && b.refused != nil, Integrity, "as staged: %s; %s; pgrunbook got in as superuser through a reserved slot", b.slots, refused)
	if dry {
		c.add(secSlots, w.slots.Free() == 0, Integrity, "after the dry run: %s (nothing was freed)", w.slots)
		return
	}
	c.add(secSlots, w.slots.Free() >= minFreeSlots, Resolution, "after: %s; at least %d must be free", w.slots, minFreeSlots)
	answer := "yes"
	if w.connectErr != nil {
		answer = "NO: " + w.connectErr.Error()
	}
	c.add(secSlots, w.connectErr == nil, Resolution, "a new %s session gets in again: %s", app, answer)
}

// scoreHorizon: nothing holds the pinned xmin any more.
func scoreHorizon(c *Scorecard, o *observation, dry bool) {
	holder := o.cast.ofKind(SnapshotHolder)[0]
	xmin := o.cast.before.pinnedXmin
	held := make([]string, len(o.world.holders))
	pinnedByHolder := false
	for i, h := range o.world.holders {
		held[i] = h.String()
		pinnedByHolder = pinnedByHolder || (h.Kind == "session" && h.Name == fmt.Sprint(holder.pid))
	}
	if dry {
		c.add(secHorizon, pinnedByHolder, Integrity, "xmin %s: still pinned by %s, as staged (%s)", xmin, label(holder), strings.Join(held, "; "))
		return
	}
	if len(held) == 0 {
		c.add(secHorizon, true, Resolution, "xmin %s, pinned by %s: no session, replication slot or prepared transaction holds it or an older one now; VACUUM may remove what died since", xmin, label(holder))
		return
	}
	c.add(secHorizon, false, Resolution, "xmin %s is still held: %s", xmin, strings.Join(held, "; "))
}

// scoreStorm: every cancelled storm session re-issued its statement (the
// storm came back, as staged), and the playbook told the operator so.
func scoreStorm(c *Scorecard, o *observation, dry bool) {
	storm := o.cast.ofKind(StormQuery)
	var cancelled, back int
	for _, s := range storm {
		sf := o.world.storm[s]
		if sf.cancels > 0 {
			cancelled++
			if sf.runs > sf.cancels {
				back++
			}
		}
	}
	if dry {
		c.add(secStorm, cancelled == 0, Integrity, "storm sessions that saw a cancel: %d of %d (a dry run cancels nothing)", cancelled, len(storm))
		return
	}
	c.add(secStorm, back == cancelled, Integrity, "the storm came back: %d of the %d cancelled sessions re-issued the statement %s after its cancel",
		back, cancelled, stormPause)
	if n, ok := o.rec.noteAfterCancel(StormReturnedPattern); ok {
		c.add(secStorm, true, Resolution, "the playbook told the operator it came back: note %q after the cancel (playbook %d of the rehearsal)", noteHeadline(n), n.run)
		return
	}
	for i := range o.playbooks {
		if step := failedOnReturnedStorm(o, i+1); step != "" {
			c.add(secStorm, true, Resolution, "the playbook told the operator it came back: its check %q failed on the storm sessions that came back (playbook %d of the rehearsal)", step, i+1)
			return
		}
	}
	c.add(secStorm, false, Resolution, "the playbook did not tell the operator that the storm came back: no note after a cancel matches %s, and no check after it failed on the sessions that came back",
		StormReturnedPattern)
}

// failedOnReturnedStorm returns the step of the failed check by which
// playbook run number run (from 1) says that the storm came back: every
// verify of the run that failed did so after a cancel, on storm sessions
// whose client re-issued the statement. "" when there is none, or when
// some other check failed too.
func failedOnReturnedStorm(o *observation, run int) string {
	back := map[int]bool{}
	for _, s := range o.cast.ofKind(StormQuery) {
		if sf := o.world.storm[s]; sf.cancels > 0 && sf.runs > sf.cancels {
			back[s.pid] = true
		}
	}
	step := ""
	for _, v := range o.rec.failedVerifies {
		if v.run != run {
			continue
		}
		if !o.rec.cancelledIn(run, v.seq) {
			return ""
		}
		for _, pid := range v.failed {
			if !back[pid] {
				return ""
			}
		}
		if step == "" {
			step = v.step
		}
	}
	return step
}

// noteHeadline is a note's title, or the start of its text.
func noteHeadline(n noteSeen) string {
	if n.title != "" {
		return n.title
	}
	return cut(strings.SplitN(n.text, "\n", 2)[0], 60)
}

// locksOrNone renders relation locks with the staged sessions' names.
func locksOrNone(cast *incidentCast, locks []incident.RelationLock) string {
	if len(locks) == 0 {
		return "none"
	}
	return cast.lockQueue(locks)
}
