package scenario

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var envRef = regexp.MustCompile(`\$\{env:([A-Z0-9_]+)\}`)

// Every ${env:...} in the configs a target writes must be set by the
// target, or the collector would start with an empty endpoint or path.
func TestTargetsSetEveryVariableTheirConfigsUse(t *testing.T) {
	tests := []struct {
		name        string
		target      Target
		wantProgram string
		wantConfigs int
	}{
		{"otelcol-audit as shipped (walstorage)", Audit("/bin/otelcol-audit", QueueWAL), "/bin/otelcol-audit", 2},
		{"otelcol-audit with file_storage", Audit("/bin/otelcol-audit", QueueFile), "/bin/otelcol-audit", 2},
		{"otelcol-audit in memory", Audit("/bin/otelcol-audit", QueueMemory), "/bin/otelcol-audit", 1},
		{"otelcol-audit-memory", AuditMemory("/bin/otelcol-audit"), "/bin/otelcol-audit", 1},
		{"contrib", Contrib("/bin/otelcol-contrib-bench"), "/bin/otelcol-contrib-bench", 1},
		{"contrib-durable", ContribDurable("/bin/otelcol-contrib-bench"), "/bin/otelcol-contrib-bench", 2},
		{"contrib-batch", ContribBatch("/bin/otelcol-contrib-bench"), "/bin/otelcol-contrib-bench", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := Env{
				Dir: t.TempDir(), HTTPAddr: "127.0.0.1:1000", SinkAddr: "127.0.0.1:2000",
				ArchivePath: "/tmp/a/audit.jsonl", Secret: "",
			}
			program, args, environ, err := tt.target.Command(env)
			require.NoError(t, err)
			assert.Equal(t, tt.wantProgram, program)
			set := map[string]bool{}
			for _, kv := range environ {
				name, _, _ := strings.Cut(kv, "=")
				set[name] = true
			}
			var configs []string
			for i := 0; i < len(args); i += 2 {
				require.Equal(t, "--config", args[i])
				configs = append(configs, args[i+1])
			}
			require.Len(t, configs, tt.wantConfigs)
			for _, path := range configs {
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				refs := envRef.FindAllStringSubmatch(string(data), -1)
				for _, ref := range refs {
					assert.True(t, set[ref[1]], "%s uses ${env:%s}, which the target does not set", path, ref[1])
				}
			}
		})
	}
}

func TestAuditOverlaysComeLast(t *testing.T) {
	_, args, _, err := Audit("x", QueueWAL, "/tmp/batch.yaml").Command(Env{Dir: t.TempDir()})
	require.NoError(t, err)
	require.Len(t, args, 6)
	assert.Equal(t, []string{"--config", "/tmp/batch.yaml"}, args[4:])
}

func TestContribGetsTheSinkAsHostAndPort(t *testing.T) {
	_, _, environ, err := Contrib("x").Command(Env{Dir: t.TempDir(), SinkAddr: "127.0.0.1:6514"})
	require.NoError(t, err)
	assert.Contains(t, environ, "BENCH_SYSLOG_HOST=127.0.0.1")
	assert.Contains(t, environ, "BENCH_SYSLOG_PORT=6514")
}

func TestBareRunsTheHarnessAsItsOwnProcess(t *testing.T) {
	program, args, _, err := Bare("/path/harness").Command(Env{HTTPAddr: "127.0.0.1:9"})
	require.NoError(t, err)
	assert.Equal(t, "/path/harness", program)
	assert.Equal(t, []string{"bare-server", "-listen", "127.0.0.1:9", "-path", WebhookPath}, args)
	assert.False(t, Bare("x").Delivers)
}

func TestAuditRefusesAnUnknownQueue(t *testing.T) {
	_, _, _, err := Audit("x", Queue("tmpfs")).Command(Env{Dir: t.TempDir()})
	require.ErrorContains(t, err, `unknown queue "tmpfs"`)
}
