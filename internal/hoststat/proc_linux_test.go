package hoststat

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 1 to 24 of a process whose name contains spaces and
	// parentheses; utime 15, stime 27, starttime 987654.
	line := "4242 (a (b) c) S 77 4242 4242 0 -1 4194560 100 0 3 0 15 27 4 5 20 0 1 0 987654 123456 789\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{comm: "a (b) c", ppid: 77, cpuTicks: 42, startTicks: 987654}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}

	for _, bad := range []string{
		"",
		"4242 no-parens S 1",
		"4242 (x) S 77 4242 4242 0 -1 4194560 100 0 3 0 15 27", // too short
		"4242 (x) S 77 4242 4242 0 -1 4194560 100 0 3 0 1x 27 4 5 20 0 1 0 987654",
	} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParseStatOfThisProcess(t *testing.T) {
	r := newProcReader()
	raw, err := r.read(0, "self/stat", procFileLimit)
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseStat(raw)
	if err != nil {
		t.Fatalf("parseStat(%q): %v", raw, err)
	}
	if st.startTicks == 0 || st.ppid == 0 || st.comm == "" {
		t.Errorf("parseStat of /proc/self/stat = %+v", st)
	}
}

func TestParseIO(t *testing.T) {
	text := "rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
	c, err := parseIO([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c != (ioCounters{readBytes: 4096, writeBytes: 8192}) {
		t.Errorf("parseIO = %+v", c)
	}
	if _, err := parseIO([]byte("rchar: 1\nwchar: 2\n")); err == nil {
		t.Error("parseIO without read_bytes accepted")
	}
}

func TestParseStatmAnon(t *testing.T) {
	// resident 10765 pages, of which 10121 file or shmem: 644 anonymous.
	got, err := parseStatmAnon([]byte("30792 10765 10121 1322 0 520 0\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got != 644*4096 {
		t.Errorf("parseStatmAnon = %d, want %d", got, 644*4096)
	}
	for _, bad := range []string{"", "30792 10765", "30792 x 1 1 0 1 0", "30792 100 200 1 0 1 0"} {
		if _, err := parseStatmAnon([]byte(bad), 4096); err == nil {
			t.Errorf("parseStatmAnon(%q) accepted", bad)
		}
	}
}

// TestStatmAnonIsRssAnon checks on this process that statm's resident
// minus shared is the RssAnon that /proc/PID/status reports.
func TestStatmAnonIsRssAnon(t *testing.T) {
	// A process that does nothing, so that its memory does not change
	// between the two reads (this test binary's own runtime, under -race,
	// touches pages all the time).
	idle := exec.Command("sleep", "60")
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Process.Kill(); _ = idle.Wait() })
	dir := fmt.Sprintf("/proc/%d/", idle.Process.Pid)
	for attempt := 0; ; attempt++ {
		statm, err := os.ReadFile(dir + "statm")
		if err != nil {
			t.Fatal(err)
		}
		status, err := os.ReadFile(dir + "status")
		if err != nil {
			t.Fatal(err)
		}
		fromStatm, err := parseStatmAnon(statm, int64(os.Getpagesize()))
		if err != nil {
			t.Fatal(err)
		}
		fromStatus := rssAnonOf(t, status)
		if fromStatm == fromStatus {
			return
		}
		// Right after exec the process may still be settling.
		if attempt == 50 {
			t.Fatalf("statm gives %d anonymous bytes, status RssAnon %d", fromStatm, fromStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rssAnonOf returns the RssAnon line of /proc/PID/status in bytes.
func rssAnonOf(t *testing.T, status []byte) int64 {
	t.Helper()
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no RssAnon line")
	return 0
}

func TestParseUptime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"468.61 609.82\n": 468*time.Second + 610*time.Millisecond,
		"12.05 1.00":      12*time.Second + 50*time.Millisecond,
		"7 3":             7 * time.Second,
	} {
		got, err := parseUptime([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseUptime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x.5 1", "12.5a 1"} {
		if _, err := parseUptime([]byte(bad)); err == nil {
			t.Errorf("parseUptime(%q) accepted", bad)
		}
	}
}

func TestClockTickFromAuxv(t *testing.T) {
	word := strconv.IntSize / 8
	put := func(b []byte, v uint64) []byte {
		if word == 8 {
			return binary.NativeEndian.AppendUint64(b, v)
		}
		return binary.NativeEndian.AppendUint32(b, uint32(v))
	}
	var auxv []byte
	for _, kv := range [][2]uint64{{33, 0x7fff0000}, {6, 4096}, {atClockTick, 250}, {0, 0}} {
		auxv = put(put(auxv, kv[0]), kv[1])
	}
	if got := clockTickFromAuxv(auxv); got != 250 {
		t.Errorf("clockTickFromAuxv = %d, want 250", got)
	}
	if got := clockTickFromAuxv(auxv[:2*word]); got != defaultClockTick {
		t.Errorf("clockTickFromAuxv without AT_CLKTCK = %d, want %d", got, defaultClockTick)
	}
	if got := clockTick(); got == 0 {
		t.Error("clockTick() = 0")
	}
}

func TestHasBackendTitle(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres: alice shop [local] idle\x00\x00":          true,
		"postgres: main: checkpointer ":                      true,
		"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/data": false,
		"postgresql-exporter\x00":                            false,
		"":                                                   false,
	} {
		if got := hasBackendTitle([]byte(in)); got != want {
			t.Errorf("hasBackendTitle(%q) = %v, want %v", in, got, want)
		}
	}
}
