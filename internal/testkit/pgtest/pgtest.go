// Package pgtest runs a real PostgreSQL server for tests: Debian's
// postgresql package (installed by .ci/run), a fresh cluster in a temporary
// directory, listening on 127.0.0.1 on a free port with trust
// authentication. PostgreSQL refuses to run as root, so when the tests run
// as root the server runs as the postgres user the package creates.
package pgtest // import "github.com/otelcol-audit/otelcol-audit/internal/testkit/pgtest"

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// Server is a running (or stopped) PostgreSQL cluster.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	runAs   string // "" to run as the current user
	running bool
}

func findBin() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

// Start creates a cluster and starts it; it is stopped and removed when the
// test ends. Without PostgreSQL the test is skipped, or fails when
// OTELCOL_AUDIT_REQUIRE_SERVERS=1 (as in CI).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findBin()
	if bin == "" {
		archivetest.SkipOrFail(t, "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
		return nil
	}
	s := &Server{t: t, bin: bin}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		s.runAs = "postgres"
	}
	base, err := os.MkdirTemp("", "pgtest-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	s.dir = filepath.Join(base, "data")
	if s.runAs != "" {
		pw, err := user.Lookup(s.runAs)
		require.NoError(t, err, "user %s (created by Debian's postgresql package)", s.runAs)
		uid, _ := strconv.Atoi(pw.Uid)
		gid, _ := strconv.Atoi(pw.Gid)
		require.NoError(t, os.Chown(base, uid, gid))
	}
	s.run("initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.port = l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	out, err := s.command(name, args...).CombinedOutput()
	require.NoError(s.t, err, "%s: %s", name, out)
}

// Start (re)starts the server on its port and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=50", s.port, filepath.Dir(s.dir))
	s.run("pg_ctl", "-D", s.dir, "-l", filepath.Join(filepath.Dir(s.dir), "server.log"), "-o", opts, "-w", "-t", "60", "start")
	s.running = true
}

// Stop stops the server (fast shutdown: clients are disconnected).
func (s *Server) Stop() {
	if !s.running {
		return
	}
	s.running = false
	out, err := s.command("pg_ctl", "-D", s.dir, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		s.t.Errorf("stopping PostgreSQL: %v: %s", err, out)
	}
}

// Kill stops the server at once (immediate shutdown, as after a crash).
func (s *Server) Kill() {
	s.t.Helper()
	s.running = false
	s.run("pg_ctl", "-D", s.dir, "-m", "immediate", "-w", "-t", "60", "stop")
}

// DSN is a connection string to the server's postgres database.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// WaitDown waits until nothing listens on the port any more.
func (s *Server) WaitDown() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}
