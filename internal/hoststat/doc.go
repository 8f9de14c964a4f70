// Package hoststat reads what the operating system knows about PostgreSQL
// backends when pgrunbook runs on the database host itself: each backend's
// CPU share, resident private memory and storage I/O rate over a short
// sampling interval, the facts pg_activity shows for a local server.
//
// # Which pids are trusted
//
// pg_stat_activity reports pids in the server's PID namespace. When the
// server is remote, or runs in a container, the same number on this host
// names an unrelated process (or none), and its figures must not be
// attributed to the backend. Sample therefore accepts a pid only when the
// process
//
//   - carries the title every PostgreSQL server child sets at start-up:
//     /proc/PID/cmdline begins with "postgres: " (PostgreSQL forces this
//     first title even with update_process_title off);
//   - was forked from a process of the same program: its comm equals its
//     parent's (backends are forked from the postmaster without exec, so
//     both keep the postmaster's program name, be it "postgres" or
//     "postmaster");
//   - started when PostgreSQL says the backend started: the start time in
//     /proc/PID/stat (field 22, clock ticks since boot) plus the boot time
//     lies within StartTolerance of backend_start.
//
// The boot time is taken as now minus /proc/uptime rather than from the
// btime line of /proc/stat: both describe the same clock, but btime is
// truncated to whole seconds while uptime has centiseconds, so rounding
// does not eat into the tolerance. See StartTolerance for why two seconds.
//
// A pid that fails a check is left out of the result, not an error. When
// every backend fails, Sample returns an error wrapping ErrNotLocal whose
// text says, in one line for the operator, what was found instead.
//
// # What each fact needs
//
//   - identity and CPU: /proc/PID/stat and /proc/PID/cmdline, readable by
//     any user unless /proc is mounted with hidepid (then other users'
//     processes look absent or unreadable, and Sample says so);
//   - memory: /proc/PID/statm, readable by any user;
//   - I/O: /proc/PID/io, readable only by the server's OS user (postgres),
//     root or a process with CAP_SYS_PTRACE, and only on kernels built with
//     task I/O accounting.
//
// A fact that cannot be read is listed in Stats.Unavailable with its
// reason; the backend's other facts are still reported.
//
// # Memory
//
// MemoryBytes is RssAnon, the resident anonymous (private) memory, not
// VmRSS. VmRSS also counts every page of shared_buffers the backend has
// touched, so on a busy server each backend looks as large as the buffer
// cache it has read through, and the backend holding a runaway sort or
// hash is hard to tell from one that merely scanned a big table. RssAnon
// leaves shared memory and mapped files out; it still includes the few
// megabytes of private pages a backend shares copy-on-write with the
// postmaster, which is the baseline of an idle backend.
//
// The figure is read as resident minus shared pages of /proc/PID/statm:
// the same kernel counters /proc/PID/status prints as RssAnon, which the
// kernel formats at a fraction of the cost of status, on every kernel
// version (status has RssAnon only since Linux 4.5).
//
// # I/O
//
// ReadBytesPerSec and WriteBytesPerSec come from read_bytes and
// write_bytes of /proc/PID/io: bytes fetched from storage (reads served
// by the page cache do not count) and bytes the backend dirtied in the
// page cache for writing, counted when dirtied. A backend that fills temp
// files, extends a relation through its own buffer ring or evicts dirty
// buffers shows writes; shared buffers written later by the checkpointer
// or background writer are theirs, not the backend's.
//
// Only Linux is implemented; on other systems Sample returns an error
// wrapping errors.ErrUnsupported.
package hoststat
