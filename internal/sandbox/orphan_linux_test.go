//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const orphanHelperEnv = "PGRUNBOOK_SANDBOX_ORPHAN_HELPER"

// TestMain turns the test binary into the orphan helper when
// TestServerDiesWithParent re-executes it.
func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) == "1" {
		orphanHelper()
	}
	os.Exit(m.Run())
}

// orphanHelper starts a cluster, prints the postmaster pid and cluster
// directory, and exits without calling Stop.
func orphanHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	fmt.Printf("CLUSTER %d %s\n", c.PID(), c.Dir)
	os.Exit(0)
}

// TestServerDiesWithParent checks that a test binary that exits without
// calling Stop (crash, -timeout panic) does not leave a server running.
func TestServerDiesWithParent(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper failed: %v\n%s", err, out)
	}
	var pid int
	var dir string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLUSTER" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
		}
	}
	if pid == 0 {
		t.Fatalf("helper did not report a cluster:\n%s", out)
	}
	defer os.RemoveAll(dir)
	deadline := time.Now().Add(30 * time.Second)
	for groupAlive(pid) {
		if time.Now().After(deadline) {
			_ = killGroup(pid)
			t.Fatalf("server process group %d survived its parent", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
