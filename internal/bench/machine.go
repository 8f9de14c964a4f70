package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the numbers were measured.
type machine struct {
	CPUs     int
	CPUModel string
	MemTotal string
	Kernel   string
	Go       string
	// Postgres is filled in once the cluster runs.
	Postgres string
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", MemTotal: "unknown", Kernel: "unknown", Go: runtime.Version()}
	if v := firstField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	if v := firstField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64); err == nil {
			m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// firstField returns the value of the first "key : value" line of a
// /proc file with the given key.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m machine) String() string {
	s := fmt.Sprintf("%d CPUs (%s), %s RAM, %s, %s", m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.Go)
	if m.Postgres != "" {
		s += ", PostgreSQL " + m.Postgres
	}
	return s
}
