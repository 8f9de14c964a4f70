package transcript

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// Sessions are the bulk of every transcript: a snapshot of a busy server
// is thousands of them, and recording it sits between reading
// pg_stat_activity and acting on it. encoding/json walks a struct by
// reflection and re-scans what every time.Time marshals; appendSession
// writes the same bytes directly, several times faster. It is not a
// MarshalJSON method: encoding/json re-scans what a Marshaler returns,
// which would cost more than it saves. So the Writer encodes an event's
// sessions itself (encodeEvent), into the very bytes encoding/json would
// write; TestSessionJSONIsEncodingJSON and TestEncodedEventIsEncodingJSONs
// hold the two equal.

// appendSession appends the session's JSON to dst: the bytes a json.Encoder
// with HTML escaping off (SetEscapeHTML(false)) writes for it, without the
// newline. It fails, as encoding/json does, on a time it cannot write
// (a year outside 0..9999) and on NaN or an infinite float.
func appendSession(dst []byte, s *activity.Session) ([]byte, error) {
	e := sessionEncoder{b: dst}
	e.b = append(e.b, `{"pid":`...)
	e.b = strconv.AppendInt(e.b, int64(s.PID), 10)
	e.str("datname", s.Datname)
	e.str("usename", s.Usename)
	e.str("application_name", s.ApplicationName)
	e.str("client_addr", s.ClientAddr)
	e.str("client_hostname", s.ClientHostname)
	e.int("client_port", int64(s.ClientPort))
	e.time("backend_start", s.BackendStart)
	e.time("xact_start", s.XactStart)
	e.time("query_start", s.QueryStart)
	e.time("state_change", s.StateChange)
	e.str("wait_event_type", s.WaitEventType)
	e.str("wait_event", s.WaitEvent)
	e.str("state", s.State)
	e.str("backend_xid", s.BackendXID)
	e.str("backend_xmin", s.BackendXmin)
	e.str("query", s.Query)
	e.str("backend_type", s.BackendType)
	e.int("leader_pid", int64(s.LeaderPID))
	e.int("query_id", s.QueryID)
	e.always("query_runtime", int64(s.QueryRuntime))
	e.always("xact_runtime", int64(s.XactRuntime))
	e.always("state_runtime", int64(s.StateRuntime))
	e.always("backend_runtime", int64(s.BackendRuntime))
	e.ints("blocked_by", s.BlockedBy)
	e.ints("root_blockers", s.RootBlockers)
	e.int("blocking", int64(s.Blocking))
	e.bool("is_root_blocker", s.IsRootBlocker)
	e.bool("is_self", s.IsSelf)
	e.str("command", s.Command)
	e.bool("is_ddl", s.IsDDL)
	e.bool("xact_aborted", s.XactAborted)
	e.bool("is_wraparound_vacuum", s.IsWraparoundVacuum)
	e.int("xmin_age", s.XminAge)
	e.int("xid_age", s.XidAge)
	e.str("wait_lock_type", s.WaitLockType)
	e.str("wait_lock_mode", s.WaitLockMode)
	e.str("wait_relation", s.WaitRelation)
	e.int("lock_wait_runtime", int64(s.LockWaitRuntime))
	e.ints("hard_blocked_by", s.HardBlockedBy)
	e.ints("soft_blocked_by", s.SoftBlockedBy)
	e.str("held_lock_mode", s.HeldLockMode)
	e.int("blocking_total", int64(s.BlockingTotal))
	e.bool("host_stats", s.HostStats)
	e.float("cpu_percent", s.CPUPercent)
	e.int("memory_bytes", s.MemoryBytes)
	e.float("io_read_rate", s.IOReadRate)
	e.float("io_write_rate", s.IOWriteRate)
	e.bool("via_pooler", s.ViaPooler)
	e.str("pooler_reason", s.PoolerReason)
	e.str("pool_mode", s.PoolMode)
	e.str("pooler_client_addr", s.PoolerClientAddr)
	e.int("pooler_client_port", int64(s.PoolerClientPort))
	e.str("pooler_client_app", s.PoolerClientApp)
	e.str("pooler_client_user", s.PoolerClientUser)
	if !s.PoolerClientConnected.IsZero() {
		e.time("pooler_client_connect_time", s.PoolerClientConnected)
	}
	if e.err != nil {
		return dst, e.err
	}
	return append(e.b, '}'), nil
}

// sessionEncoder appends a session's fields; the first error stays.
type sessionEncoder struct {
	b   []byte
	err error
}

// key appends ,"name": (no name needs escaping).
func (e *sessionEncoder) key(name string) {
	e.b = append(e.b, ',', '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

// str appends a string field, left out when empty (omitempty).
func (e *sessionEncoder) str(name, v string) {
	if v == "" {
		return
	}
	e.key(name)
	e.b = appendJSONString(e.b, v)
}

// int appends an integer field, left out when 0 (omitempty).
func (e *sessionEncoder) int(name string, v int64) {
	if v == 0 {
		return
	}
	e.always(name, v)
}

// always appends an integer field that has no omitempty.
func (e *sessionEncoder) always(name string, v int64) {
	e.key(name)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *sessionEncoder) bool(name string, v bool) {
	if v {
		e.key(name)
		e.b = append(e.b, "true"...)
	}
}

func (e *sessionEncoder) ints(name string, v []int) {
	if len(v) == 0 {
		return
	}
	e.key(name)
	e.b = append(e.b, '[')
	for i, n := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = strconv.AppendInt(e.b, int64(n), 10)
	}
	e.b = append(e.b, ']')
}

// time appends a time as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted), which it calls for what it refuses (a year
// outside 0..9999, an offset of a day or more) to return its error.
func (e *sessionEncoder) time(name string, t time.Time) {
	e.key(name)
	_, offset := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || offset <= -24*3600 || offset >= 24*3600 || offset%60 != 0 {
		raw, err := t.MarshalJSON()
		if err != nil && e.err == nil {
			e.err = err
		}
		e.b = append(e.b, raw...)
		return
	}
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	e.b = append(e.b, '"')
}

// float appends a float64 field, left out when 0 (omitempty), formatted as
// encoding/json formats it: shortest representation, exponent form below
// 1e-6 and from 1e21 on, without a leading zero in the exponent.
func (e *sessionEncoder) float(name string, f float64) {
	if f == 0 {
		return
	}
	e.key(name)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if _, err := json.Marshal(f); err != nil && e.err == nil {
			e.err = err
		}
		e.b = append(e.b, "null"...)
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9
		if n := len(e.b); n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// sessionBytes is room enough for most sessions' JSON.
const sessionBytes = 640

// Where an event's sessions go in its line: encoding/json writes an event
// whose Rows and Excluded hold one zero value each, and the places of
// these marks are where the real sessions are written. A mark cannot
// occur inside a string, where every quote is escaped.
var (
	zeroSessionJSON = func() string {
		b, _ := appendSession(nil, &activity.Session{})
		return string(b)
	}()
	rowsMark     = []byte(`"rows":[` + zeroSessionJSON + `]`)
	excludedMark = []byte(`"excluded":[{"session":` + zeroSessionJSON + `,"reason":""}]`)
)

// encodeEvent appends ev's line, with its newline, to buf: the bytes enc
// (HTML escaping off) would write, with the sessions (Rows, and those of
// Excluded) written by appendSession.
func encodeEvent(buf *bytes.Buffer, enc *json.Encoder, ev Event) error {
	rows, excluded := ev.Rows, ev.Excluded
	if len(rows) == 0 && len(excluded) == 0 {
		return enc.Encode(ev)
	}
	if len(rows) > 0 {
		ev.Rows = []activity.Session{{}}
	}
	if len(excluded) > 0 {
		ev.Excluded = []Excluded{{}}
	}
	start := buf.Len()
	if err := enc.Encode(ev); err != nil {
		return err
	}
	// The line around the marks: head, then rows, mid, excluded, tail.
	line := buf.Bytes()[start:]
	ri, xi := -1, -1
	if len(rows) > 0 {
		if ri = bytes.Index(line, rowsMark); ri < 0 {
			return fmt.Errorf("no place for the event's rows in %.80q", line)
		}
	}
	if len(excluded) > 0 {
		from := 0
		if ri >= 0 {
			from = ri + len(rowsMark)
		}
		j := bytes.Index(line[from:], excludedMark)
		if j < 0 {
			return fmt.Errorf("no place for the event's excluded sessions in %.80q", line)
		}
		xi = from + j
	}
	var cut int
	var mid, tail []byte
	switch {
	case ri >= 0 && xi >= 0:
		cut = ri
		mid = append(mid, line[ri+len(rowsMark):xi]...)
		tail = append(tail, line[xi+len(excludedMark):]...)
	case ri >= 0:
		cut = ri
		tail = append(tail, line[ri+len(rowsMark):]...)
	default:
		cut = xi
		tail = append(tail, line[xi+len(excludedMark):]...)
	}
	return writeSessions(buf, start+cut, rows, mid, excluded, tail)
}

// writeSessions cuts buf at cut and appends the rows (if any), mid, the
// excluded sessions (if any) and tail.
func writeSessions(buf *bytes.Buffer, cut int, rows []activity.Session, mid []byte, excluded []Excluded, tail []byte) error {
	buf.Truncate(cut)
	// A recorded session is about 500 bytes: room for all of them at
	// once, rather than growing by doubling through fresh pages.
	buf.Grow((len(rows)+len(excluded))*sessionBytes + len(mid) + len(tail))
	b := buf.AvailableBuffer()
	var err error
	if len(rows) > 0 {
		b = append(b, `"rows":[`...)
		for i := range rows {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendSession(b, &rows[i]); err != nil {
				return err
			}
		}
		b = append(b, ']')
	}
	b = append(b, mid...)
	if len(excluded) > 0 {
		b = append(b, `"excluded":[`...)
		for i := range excluded {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"session":`...)
			if b, err = appendSession(b, &excluded[i].Session); err != nil {
				return err
			}
			b = append(b, `,"reason":`...)
			b = append(appendJSONString(b, excluded[i].Reason), '}')
		}
		b = append(b, ']')
	}
	b = append(b, tail...)
	_, err = buf.Write(b)
	return err
}

// MarshalLine returns ev's line, with its newline, exactly as a Writer
// writes it: what --output json prints is the transcript's own lines.
func MarshalLine(ev Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := encodeEvent(&buf, enc, ev); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
