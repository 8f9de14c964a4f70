package incident

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Output of pgbench 15.18 for a throttled timed run.
const pgbench15Timed = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 157
number of failed transactions: 0 (0.000%)
latency average = 0.704 ms
latency stddev = 0.232 ms
rate limit schedule lag: avg 0.122 (max 0.340) ms
initial connection time = 5.119 ms
tps = 53.624394 (without initial connection time)
`

// Output of pgbench 15.18 when two of four clients were terminated.
const pgbench15AbortedStdout = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 4 s
number of transactions actually processed: 197
number of failed transactions: 3 (1.500%)
latency average = 0.655 ms
latency stddev = 0.249 ms
rate limit schedule lag: avg 0.123 (max 0.352) ms
initial connection time = 5.084 ms
tps = 49.373372 (without initial connection time)
`

const pgbench15AbortedStderr = `starting vacuum...end.
pgbench: error: client 2 script 0 aborted in command 4 query 0: FATAL:  terminating connection due to administrator command
pgbench: error: client 0 script 0 aborted in command 4 query 0: FATAL:  terminating connection due to administrator command
pgbench: error: client 2 script 0 aborted in command 4 query 0: duplicate line to check de-duplication
pgbench: error: Run was aborted; the above results are incomplete.
`

// Older (pgbench 12) report shape: -t run and two tps lines.
const pgbench12Transactions = `transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
number of transactions per client: 20
number of transactions actually processed: 80/80
latency average = 1.223 ms
tps = 3000.5 (including connections establishing)
tps = 3271.716015 (excluding connections establishing)
client 1 aborted in command 3 (SQL) of script 0; perhaps the backend died while processing
`

func TestParsePgbench(t *testing.T) {
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		want           PgbenchSummary
	}{
		{"pg15 timed", pgbench15Timed, "starting vacuum...end.\n",
			PgbenchSummary{Clients: 4, Threads: 2, Processed: 157, TPS: 53.624394}},
		{"pg15 aborted", pgbench15AbortedStdout, pgbench15AbortedStderr,
			PgbenchSummary{Clients: 4, Threads: 2, Processed: 197, Failed: 3, Aborted: 2, Incomplete: true, TPS: 49.373372}},
		{"pg12 transactions", pgbench12Transactions, "",
			PgbenchSummary{Clients: 4, Threads: 2, Processed: 80, Aborted: 1, TPS: 3271.716015}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePgbench(tc.stdout, tc.stderr)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParsePgbenchNoReport(t *testing.T) {
	stderr := `pgbench: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "nosuchdb" does not exist
pgbench: error: could not create connection for setup
`
	_, err := ParsePgbench("", stderr)
	if !errors.Is(err, ErrNoPgbenchReport) {
		t.Fatalf("err = %v, want ErrNoPgbenchReport", err)
	}
}

func TestPgbenchArgs(t *testing.T) {
	for _, tc := range []struct {
		run  PgbenchRun
		want []string
	}{
		{PgbenchRun{}, []string{"-c", "1", "-j", "1"}},
		{PgbenchRun{Clients: 10, Threads: 2, Duration: 30 * time.Second, Rate: 50, Database: "app"},
			[]string{"-c", "10", "-j", "2", "-T", "30", "-R", "50", "app"}},
		{PgbenchRun{Clients: 2, Threads: 8, Duration: 1500 * time.Millisecond, Transactions: 5, Extra: []string{"-n"}},
			[]string{"-c", "2", "-j", "2", "-T", "2", "-n"}},
		{PgbenchRun{Transactions: 5, Rate: 12.5}, []string{"-c", "1", "-j", "1", "-t", "5", "-R", "12.5"}},
	} {
		if got := tc.run.Args(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v.Args() = %q, want %q", tc.run, got, tc.want)
		}
	}
	if got, want := PgbenchInitArgs(0, "db"), []string{"-i", "-s", "1", "-q", "db"}; !slices.Equal(got, want) {
		t.Errorf("PgbenchInitArgs = %q, want %q", got, want)
	}
}
