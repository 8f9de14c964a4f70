package transcript

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgrunbook/pgrunbook/internal/activity"
)

// reflected encodes s as encoding/json does, with HTML escaping off (as
// transcripts are written), without the newline.
func reflected(t testing.TB, s activity.Session) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

// sameAsReflection fails t when appendSession and encoding/json differ on s.
func sameAsReflection(t testing.TB, s activity.Session) {
	t.Helper()
	want, err := reflected(t, s)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	got, err := appendSession([]byte("prefix "), &s)
	if err != nil {
		t.Fatalf("appendSession: %v", err)
	}
	if !bytes.Equal(got[len("prefix "):], want) {
		t.Fatalf("appendSession and encoding/json differ\nappendSession:    %s\nencoding/json: %s", got, want)
	}
}

// awkwardStrings are strings whose escaping encoding/json gets particular.
var awkwardStrings = []string{
	"", "plain", `quote " and backslash \`, "tab\tnewline\nreturn\rbs\bff\f",
	"\x00\x01\x1f\x7f", "<html> & friends", "line\u2028para\u2029", "bad \xff utf-8 \xc3",
	"héllo wörld ✓ 日本", "SELECT * FROM \"Orders\" WHERE note = 'a\\b'",
}

// randomSession fills the exported fields of a Session with random
// values (each left zero one time in four, since omitempty is part of the
// format). It panics on a field type it has no value for, so a field
// added later is covered, or this test says so.
func randomSession(r *rand.Rand) activity.Session {
	var s activity.Session
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() || r.IntN(4) == 0 {
			continue
		}
		switch f.Interface().(type) {
		case time.Time:
			loc := time.UTC
			if r.IntN(3) == 0 {
				loc = time.FixedZone("", (r.IntN(48)-24)*1800)
			}
			f.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(loc)))
		case time.Duration:
			f.SetInt(r.Int64N(1e13) - 1e12)
		case []activity.Lock:
			f.Set(reflect.ValueOf([]activity.Lock{{LockType: "relation", Mode: "AccessShareLock"}}))
		case []int:
			ints := make([]int, r.IntN(4))
			for j := range ints {
				ints[j] = r.IntN(1 << 22)
			}
			f.Set(reflect.ValueOf(ints))
		default:
			switch f.Kind() {
			case reflect.String:
				f.SetString(awkwardStrings[r.IntN(len(awkwardStrings))])
			case reflect.Int, reflect.Int64:
				f.SetInt(r.Int64N(1<<40) - 1<<39)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Float64:
				floats := []float64{0.5, 1e-7, 3.14159, 1e21, 123456789.125, -2.5e-9, 99.99, 1e20}
				f.SetFloat(floats[r.IntN(len(floats))] * float64(r.IntN(3)+1))
			default:
				panic("randomSession: no value for field " + v.Type().Field(i).Name + " of kind " + f.Kind().String())
			}
		}
	}
	return s
}

func TestSessionJSONIsEncodingJSON(t *testing.T) {
	sameAsReflection(t, activity.Session{})
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		sameAsReflection(t, randomSession(r))
	}
	for _, q := range awkwardStrings {
		sameAsReflection(t, activity.Session{PID: 1, Query: q, ApplicationName: q})
	}
}

func TestSessionJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for name, s := range map[string]activity.Session{
		"NaN":           {CPUPercent: math.NaN()},
		"infinity":      {IOReadRate: math.Inf(1)},
		"year 10000":    {QueryStart: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"negative year": {BackendStart: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, fastErr := appendSession(nil, &s)
		_, slowErr := reflected(t, s)
		if fastErr == nil || slowErr == nil {
			t.Errorf("%s: appendSession error %v, encoding/json error %v; want both to fail", name, fastErr, slowErr)
		}
	}
}

func TestSessionJSONReadsBack(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		s := randomSession(r)
		s.Locks = nil // not recorded
		v := reflect.ValueOf(&s).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String {
				f.SetString(strings.ToValidUTF8(f.String(), "?")) // invalid UTF-8 does not survive JSON
			}
		}
		raw, err := appendSession(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		var back activity.Session
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		again, err := appendSession(nil, &back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, again) {
			t.Fatalf("a session read back encodes differently:\n%s\n%s", raw, again)
		}
	}
}

func FuzzSessionJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		sameAsReflection(t, activity.Session{PID: 7, Query: q, WaitRelation: q})
	})
}

func BenchmarkSessionJSON(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	rows := make([]activity.Session, 1000)
	for i := range rows {
		rows[i] = randomSession(r)
	}
	b.Run("appendSession_1000_rows", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = buf[:0]
			for i := range rows {
				var err error
				if buf, err = appendSession(buf, &rows[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding_json_1000_rows", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(rows); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}

// TestEncodedEventIsEncodingJSONs: an event with sessions, as the Writer
// encodes it, is the very line encoding/json writes.
func TestEncodedEventIsEncodingJSONs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	taken := time.Date(2026, 12, 2, 5, 30, 0, 123456789, time.UTC)
	for _, ev := range []Event{
		{Seq: 4, Time: taken, Type: Snapshot, Step: "snapshot", Taken: &taken,
			Rows:        []activity.Session{randomSession(r), randomSession(r), randomSession(r)},
			ServerFacts: &activity.Server{MaxConnections: 100}},
		{Seq: 5, Time: taken, Type: Selected, Step: "long", Set: "long", Rows: []activity.Session{randomSession(r)},
			Excluded: []Excluded{{Session: randomSession(r), Reason: `a "reason" <with> & \ escapes`}, {Session: randomSession(r), Reason: "own backend"}}},
		{Seq: 6, Time: taken, Type: Selected, Step: "none", Set: "none", Stable: "state", Excluded: []Excluded{{Session: randomSession(r), Reason: "x"}}},
		{Seq: 7, Time: taken, Type: Selected, Step: "last", Rows: []activity.Session{randomSession(r)}},
		{Seq: 8, Time: taken, Type: Selected, Step: `"rows":[` + zeroSessionJSON + `]`, Rows: []activity.Session{{}, randomSession(r)}},
		{Seq: 9, Time: taken, Type: Note, Text: "no sessions"},
	} {
		var fast, slow bytes.Buffer
		fast.WriteString("earlier line\n")
		enc := json.NewEncoder(&fast)
		enc.SetEscapeHTML(false)
		if err := encodeEvent(&fast, enc, ev); err != nil {
			t.Fatal(err)
		}
		enc = json.NewEncoder(&slow)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
		got := bytes.TrimPrefix(fast.Bytes(), []byte("earlier line\n"))
		if !bytes.Equal(got, slow.Bytes()) {
			t.Errorf("event %d differs:\nencodeEvent:   %s\nencoding/json: %s", ev.Seq, got, slow.Bytes())
		}
	}
}
