// Package scenario runs one load scenario against one process under test
// (start it, load it, count what it delivers, drain, stop it), and judges a
// set of results against the project's targets.
package scenario // import "github.com/otelcol-audit/otelcol-audit/bench/internal/scenario"

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/otelcol-audit/otelcol-audit/bench"
)

// WebhookPath is where every target takes Glassix webhooks.
const WebhookPath = "/glassix"

// Target names, as they appear in results.
const (
	NameBare           = "bare"
	NameContrib        = "contrib"
	NameContribDurable = "contrib-durable"
	NameContribBatch   = "contrib-batch"
	NameAudit          = "otelcol-audit"
	NameAuditMemory    = "otelcol-audit-memory"
)

// Queue is where otelcol-audit's sending queues and dedup window live.
type Queue string

const (
	// QueueWAL is the shipped configuration: the auditlog processor's
	// journal in walstorage, fsynced before the webhook is answered, and
	// in-memory sending queues.
	QueueWAL Queue = "walstorage"
	// QueueWALQueues is the durable configuration shipped before the
	// journal: both exporters' persistent queues in walstorage.
	QueueWALQueues Queue = "walstorage-queues"
	// QueueFile is the configuration shipped before walstorage:
	// file_storage, without fsync.
	QueueFile Queue = "file_storage"
	// QueueMemory is in-memory sending queues and dedup window.
	QueueMemory Queue = "memory"
)

// overlay returns the config overlay for q, or "" for none.
func (q Queue) overlay() (string, error) {
	switch q {
	case QueueWAL:
		return "audit/durable.yaml", nil
	case QueueWALQueues:
		return "audit/wal-queues.yaml", nil
	case QueueFile:
		return "audit/persistent-queue.yaml", nil
	case QueueMemory:
		return "", nil
	}
	return "", fmt.Errorf("unknown queue %q (want walstorage, walstorage-queues, file_storage or memory)", string(q))
}

// Env is where one run's target listens and delivers.
type Env struct {
	// Dir is the run's own folder, for configs, the archive and queues.
	Dir string
	// HTTPAddr is host:port the target must listen on for webhooks.
	HTTPAddr string
	// SinkAddr is the syslog sink's host:port.
	SinkAddr string
	// ArchivePath is where the target must write its archive.
	ArchivePath string
	// Secret is the Glassix webhook secret; empty for unsigned requests.
	Secret string
}

// Target is a process under test.
type Target struct {
	Name string
	// Label says what it is, for the table.
	Label string
	// Delivers is false for the bare server, which forwards nothing.
	Delivers bool
	// Command returns the program, its arguments and its extra environment
	// for a run, writing any files it needs into env.Dir.
	Command func(env Env) (program string, args, environ []string, err error)
}

// Audit is the otelcol-audit binary at bin, with its sending queues and
// dedup window in queue (walstorage as shipped, file_storage, or memory),
// and the overlays (collector config files merged over the harness's, in
// order) to try a setting without editing anything.
func Audit(bin string, queue Queue, overlays ...string) Target {
	return audit(NameAudit, bin, queue, overlays)
}

// AuditMemory is the otelcol-audit binary at bin with in-memory queues:
// the durable target's in-memory reference, and the peer of contrib-batch.
func AuditMemory(bin string, overlays ...string) Target {
	return audit(NameAuditMemory, bin, QueueMemory, overlays)
}

func audit(name, bin string, queue Queue, overlays []string) Target {
	label := "otelcol-audit (" + string(queue) + ")"
	if len(overlays) > 0 {
		label += " + " + strings.Join(overlays, " + ")
	}
	return Target{
		Name: name, Label: label, Delivers: true,
		Command: func(env Env) (string, []string, []string, error) {
			files := []string{"audit/collector.yaml"}
			o, err := queue.overlay()
			if err != nil {
				return "", nil, nil, err
			}
			if o != "" {
				files = append(files, o)
			}
			args, err := writeConfigs(env.Dir, files)
			for _, o := range overlays {
				args = append(args, "--config", o)
			}
			environ := []string{
				"BENCH_HTTP_ENDPOINT=" + env.HTTPAddr,
				"BENCH_SYSLOG_ENDPOINT=" + env.SinkAddr,
				"BENCH_ARCHIVE=" + env.ArchivePath,
				"BENCH_GLASSIX_SECRET=" + env.Secret,
				"BENCH_QUEUE_DIR=" + filepath.Join(env.Dir, "queue"),
			}
			return bin, args, environ, err
		},
	}
}

// Contrib is the contrib comparison distribution at bin
// (bench/contrib/builder-config.yaml): a syslog sending queue in memory
// and a synchronous file exporter. It checks no signature.
func Contrib(bin string) Target {
	return contrib(NameContrib, "contrib v0.145.0 (webhookevent+transform+syslog+file)", bin, "")
}

// ContribDurable is the durable contrib peer: file_storage sending queues
// with fsync: true on both exporters (contrib/durable.yaml).
func ContribDurable(bin string) Target {
	return contrib(NameContribDurable, "contrib v0.145.0 durable (file_storage queues, fsync)", bin, "contrib/durable.yaml")
}

// ContribBatch is contrib's usual in-memory configuration: the batch
// processor in front of both exporters (contrib/batch.yaml).
func ContribBatch(bin string) Target {
	return contrib(NameContribBatch, "contrib v0.145.0 (webhookevent+transform+batch+syslog+file)", bin, "contrib/batch.yaml")
}

func contrib(name, label, bin, overlay string) Target {
	return Target{
		Name: name, Label: label, Delivers: true,
		Command: func(env Env) (string, []string, []string, error) {
			files := []string{"contrib/collector.yaml"}
			if overlay != "" {
				files = append(files, overlay)
			}
			args, err := writeConfigs(env.Dir, files)
			host, port, splitErr := net.SplitHostPort(env.SinkAddr)
			environ := []string{
				"BENCH_HTTP_ENDPOINT=" + env.HTTPAddr,
				"BENCH_SYSLOG_HOST=" + host,
				"BENCH_SYSLOG_PORT=" + port,
				"BENCH_ARCHIVE=" + env.ArchivePath,
				"BENCH_QUEUE_DIR=" + filepath.Join(env.Dir, "queue"),
			}
			if err == nil {
				err = splitErr
			}
			return bin, args, environ, err
		},
	}
}

// Bare is the machine's HTTP ceiling: self (the harness binary) run as
// `self bare-server`, which answers 200 to every webhook and does nothing.
func Bare(self string) Target {
	return Target{
		Name: NameBare, Label: "bare HTTP server (200, nothing else)", Delivers: false,
		Command: func(env Env) (string, []string, []string, error) {
			return self, []string{"bare-server", "-listen", env.HTTPAddr, "-path", WebhookPath}, nil, nil
		},
	}
}

// writeConfigs copies the embedded configs named into dir and returns the
// collector's --config arguments for them, in order.
func writeConfigs(dir string, names []string) ([]string, error) {
	var args []string
	for _, name := range names {
		data, err := bench.Configs.ReadFile(name)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		args = append(args, "--config", path)
	}
	return args, nil
}
