package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

// runMainEnv makes the test binary run auditctl's main (see TestExitStatus).
const runMainEnv = "AUDITCTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// writeArchive writes an archive of several files (the rotated ones
// gzipped) and returns its directory.
func writeArchive(t *testing.T, key []byte) string {
	t.Helper()
	dir := t.TempDir()
	w, err := archive.OpenWriter(archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl"), MaxSize: 8 << 10, HMACKey: key})
	require.NoError(t, err)
	for i := 1; i <= 60; i += 5 {
		require.NoError(t, w.Write(context.Background(), archive.EncodeLogs(archivetest.GlassixLogs(i, 5))))
	}
	require.NoError(t, w.Close())
	return dir
}

// deleteLine removes line n (1-based) of the archive's active file.
func deleteLine(t *testing.T, dir string, n int) {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(append(lines[:n-1], lines[n:]...), "")), 0o600))
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVerifyIntact(t *testing.T) {
	dir := writeArchive(t, nil)
	for _, path := range []string{dir, filepath.Join(dir, "audit.jsonl")} {
		code, out, errOut := runCLI("verify", path)
		assert.Equal(t, exitOK, code, errOut)
		assert.Regexp(t, `^OK .*audit\.jsonl: \d+ files, 60 lines \(60 events, 0 markers\), seq 1\.\.60, head seq 60, no signatures checked\n`+
			`note: no public key given \(-pubkey\) and no signed checkpoints checked: .* is not detected\n$`, out)
		assert.Empty(t, errOut)
	}
}

func TestVerifyReportsTheFirstBrokenPlace(t *testing.T) {
	dir := writeArchive(t, nil)
	deleteLine(t, dir, 2)
	deleteLine(t, dir, 4)

	code, out, _ := runCLI("verify", dir)
	assert.Equal(t, exitProblem, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.True(t, strings.HasPrefix(lines[0], "BROKEN "), lines[0])
	assert.True(t, strings.HasPrefix(lines[1], filepath.Join(dir, "audit.jsonl")+":2: deleted: "), lines[1])
	assert.Equal(t, "1 more problems (-all lists them)", lines[2])
	assert.True(t, strings.HasPrefix(lines[3], "note: no public key given"), lines[3])

	code, out, _ = runCLI("verify", "-all", dir)
	assert.Equal(t, exitProblem, code)
	assert.Contains(t, out, filepath.Join(dir, "audit.jsonl")+":4: deleted: ")
}

func TestVerifyJSON(t *testing.T) {
	dir := writeArchive(t, nil)
	deleteLine(t, dir, 3)
	code, out, _ := runCLI("verify", dir, "-json") // flags after PATH work too
	assert.Equal(t, exitProblem, code)
	var report struct {
		Intact   bool              `json:"intact"`
		Lines    int               `json:"lines"`
		Problems []archive.Problem `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report))
	assert.False(t, report.Intact)
	assert.Equal(t, 59, report.Lines)
	require.Len(t, report.Problems, 1)
	assert.Equal(t, archive.Problem{File: "audit.jsonl", Line: 3, Kind: archive.KindDeleted, Message: report.Problems[0].Message}, report.Problems[0])
}

func TestVerifyWithKey(t *testing.T) {
	key := "0123456789abcdef0123456789abcdef"
	dir := writeArchive(t, []byte(key))
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key+"\n"), 0o600))
	t.Setenv("TEST_AUDIT_KEY", key)
	t.Setenv("TEST_WRONG_KEY", "not the key at all")

	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"key from a file", []string{"-hmac-key-file", keyFile}, exitOK, "HMAC checked"},
		{"key from the environment", []string{"-hmac-key-env", "TEST_AUDIT_KEY"}, exitOK, "HMAC checked"},
		{"no key", nil, exitOK, "note: lines carry HMACs but no key was given"},
		{"wrong key", []string{"-hmac-key-env", "TEST_WRONG_KEY"}, exitProblem, ":1: modified: HMAC does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append(append([]string{"verify"}, tt.args...), dir)...)
			assert.Equal(t, tt.code, code, errOut)
			assert.Contains(t, out, tt.out)
		})
	}
}

func TestUsageErrors(t *testing.T) {
	dir := writeArchive(t, nil)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no command", nil, "Usage: auditctl <command>"},
		{"unknown command", []string{"fsck"}, `unknown command "fsck"`},
		{"no path", []string{"verify"}, "want exactly one PATH, got 0"},
		{"two paths", []string{"verify", dir, dir}, "want exactly one PATH, got 2"},
		{"unknown flag", []string{"verify", "-fast", dir}, "flag provided but not defined: -fast"},
		{"both key flags", []string{"verify", "-hmac-key-env", "X", "-hmac-key-file", "y", dir}, "not both"},
		{"unset key variable", []string{"verify", "-hmac-key-env", "AUDITCTL_TEST_UNSET", dir}, "AUDITCTL_TEST_UNSET (-hmac-key-env) is unset or empty"},
		{"missing key file", []string{"verify", "-hmac-key-file", filepath.Join(dir, "nope"), dir}, "reading the HMAC key"},
		{"no archive there", []string{"verify", t.TempDir()}, "no archive in directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, errOut, tt.stderr)
		})
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI("help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "verify   check an archive's hash chain")
	code, out, _ = runCLI("help", "verify")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "Exit status: 0 intact, 1 broken, 2 usage error")
	code, out, _ = runCLI("verify", "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "-hmac-key-file FILE")
}

// A command's help is printed once, on stdout: a terminal shows stdout and
// stderr both, and showed it twice.
func TestCommandHelpIsPrintedOnce(t *testing.T) {
	for _, tt := range []struct {
		command string
		args    []string
	}{
		{"verify", []string{"verify", "-h"}}, {"verify", []string{"verify", "--help"}},
		{"query", []string{"query", "-h"}}, {"verify", []string{"help", "verify"}}, {"query", []string{"help", "query"}},
	} {
		code, out, errOut := runCLI(tt.args...)
		assert.Equal(t, exitOK, code, "%v", tt.args)
		assert.Equal(t, 1, strings.Count(out, "Usage: auditctl "+tt.command), "%v: %s", tt.args, out)
		assert.Empty(t, errOut, "%v", tt.args)
	}
	// A bad flag: flag's message and the help, once, on stderr.
	code, out, errOut := runCLI("verify", "-fast", "x")
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Equal(t, 1, strings.Count(errOut, "Usage: auditctl verify"), errOut)
	assert.Contains(t, errOut, "flag provided but not defined: -fast")
}

// auditctl --version says the version the Makefile stamped, in the form
// otelcol-audit --version uses.
func TestVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "1.2.3"
	for _, arg := range []string{"--version", "-version", "version", "-v"} {
		code, out, errOut := runCLI(arg)
		assert.Equal(t, exitOK, code, arg)
		assert.Equal(t, "auditctl version 1.2.3\n", out, arg)
		assert.Empty(t, errOut, arg)
	}
	version = ""
	_, out, _ := runCLI("--version")
	assert.Regexp(t, `^auditctl version \S+\n$`, out, "the module's version, or (devel)")
}

// The process's exit status, through the real main.
func TestExitStatus(t *testing.T) {
	intact := writeArchive(t, nil)
	broken := writeArchive(t, nil)
	deleteLine(t, broken, 5)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"intact", []string{"verify", intact}, 0},
		{"broken", []string{"verify", broken}, 1},
		{"usage", []string{"verify"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			out, err := cmd.CombinedOutput()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.code, code, "%s", out)
		})
	}
}

// An archive that never rotated, its head file deleted: the directory still
// holds an archive, a broken one. verify says BROKEN (exit 1) instead of
// "no archive" (exit 2); query names the missing head.
func TestHeadDeletedFromAnUnrotatedArchive(t *testing.T) {
	dir := t.TempDir()
	w, err := archive.OpenWriter(archive.WriterOptions{Path: filepath.Join(dir, "audit.jsonl")})
	require.NoError(t, err)
	require.NoError(t, w.Write(context.Background(), archive.EncodeLogs(archivetest.GlassixLogs(1, 5))))
	require.NoError(t, w.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))

	code, out, errOut := runCLI("verify", dir)
	assert.Equal(t, exitProblem, code, errOut)
	assert.Contains(t, out, "BROKEN")
	assert.Contains(t, out, ": head: ")
	assert.NotContains(t, errOut, "no archive")

	code, out, errOut = runCLI("query", dir)
	assert.Equal(t, exitProblem, code, errOut)
	assert.Contains(t, out, "user-5 removed by admin", "the events are listed")
	assert.Contains(t, errOut, "the archive is broken: its head file "+filepath.Join(dir, "audit.jsonl.head")+" is missing")
}
