package inprocess

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"

	"github.com/otelcol-audit/otelcol-audit/bench/internal/archivefollow"
	"github.com/otelcol-audit/otelcol-audit/bench/internal/sink"
	"github.com/otelcol-audit/otelcol-audit/exporter/auditfileexporter"
	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter"
	"github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadgen"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/proc"
	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditwebhookreceiver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// archiveFsync sets the auditfile exporter's fsync policy, to profile the
// pipeline with and without an fsync per write:
// go test ... ./bench/inprocess/ -args -archive-fsync=interval
var archiveFsync = flag.String("archive-fsync", "batch", "auditfile fsync policy: batch or interval")

// persistent gives both exporters file_storage sending queues and the
// processor a persistent dedup window, as the shipped collector.yaml does:
// go test ... ./bench/inprocess/ -args -persistent
var persistent = flag.Bool("persistent", false, "file_storage queues and dedup window, as shipped")

// journaled runs the shipped configuration: a walstorage database for
// the dedup window and the auditlog processor's journal, in-memory sending
// queues: go test ... ./bench/inprocess/ -args -journal
var journaled = flag.Bool("journal", false, "walstorage dedup window and journal, in-memory queues, as shipped")

// storageID is the file_storage extension's ID when -persistent is set.
var storageID = component.MustNewIDWithName("file_storage", "bench")

// walID is the walstorage extension's ID when -journal is set.
var walID = component.MustNewID("walstorage")

// host offers the pipeline its extensions, as the service does.
type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

func withStorage(settings map[string]any, key string) map[string]any {
	if !*persistent {
		return settings
	}
	section, _ := settings[key].(map[string]any)
	if section == nil {
		section = map[string]any{}
	}
	section["storage"] = storageID.String()
	settings[key] = section
	return settings
}

// The same settings as bench/audit/collector.yaml, by the components'
// public config keys.
func receiverConfig(endpoint string) map[string]any {
	return map[string]any{"endpoint": endpoint, "glassix": map[string]any{"path": "/glassix"}}
}

func syslogConfig(endpoint string) map[string]any {
	return withStorage(map[string]any{"endpoint": endpoint, "transport": "tcp", "sending_queue": map[string]any{"enabled": true}}, "sending_queue")
}

func processorConfig() map[string]any {
	if *journaled {
		return map[string]any{
			"dedup":   map[string]any{"storage": walID.String()},
			"journal": map[string]any{"storage": walID.String(), "exporters": []any{"rfc5424", "auditfile"}},
		}
	}
	return withStorage(map[string]any{}, "dedup")
}

func archiveConfig(path string) map[string]any {
	return withStorage(map[string]any{
		"path": path, "compression": "none", "rotation": map[string]any{"max_megabytes": 4096},
		"fsync":         *archiveFsync,
		"sending_queue": map[string]any{"enabled": true},
	}, "sending_queue")
}

func unmarshal(tb testing.TB, cfg component.Config, settings map[string]any) component.Config {
	tb.Helper()
	require.NoError(tb, confmap.NewFromStringMap(settings).Unmarshal(cfg))
	return cfg
}

// pipeline is the Glassix pipeline, started, listening on url.
type pipeline struct {
	url        string
	components []component.Component // in start order
}

func startPipeline(tb testing.TB, sinkAddr, archivePath string) *pipeline {
	tb.Helper()
	ctx := context.Background()
	port, err := proc.FreePort()
	require.NoError(tb, err)
	endpoint := "127.0.0.1:" + strconv.Itoa(port)
	p := &pipeline{url: "http://" + endpoint + "/glassix"}
	extensions := host{}
	if *persistent {
		ef := filestorage.NewFactory()
		ecfg := unmarshal(tb, ef.CreateDefaultConfig(), map[string]any{"directory": filepath.Join(filepath.Dir(archivePath), "queue"), "create_directory": true})
		storage, err := ef.Create(ctx, extensiontest.NewNopSettings(ef.Type()), ecfg)
		require.NoError(tb, err)
		extensions[storageID] = storage
		p.components = append(p.components, storage)
	}
	if *journaled {
		wf := walstorageextension.NewFactory()
		wcfg := unmarshal(tb, wf.CreateDefaultConfig(), map[string]any{"directory": filepath.Join(filepath.Dir(archivePath), "wal"), "create_directory": true})
		wal, err := wf.Create(ctx, extensiontest.NewNopSettings(wf.Type()), wcfg)
		require.NoError(tb, err)
		extensions[walID] = wal
		p.components = append(p.components, wal)
	}

	sf := rfc5424exporter.NewFactory()
	syslogExp, err := sf.CreateLogs(ctx, exporterSettings(sf.Type()), unmarshal(tb, sf.CreateDefaultConfig(), syslogConfig(sinkAddr)))
	require.NoError(tb, err)
	af := auditfileexporter.NewFactory()
	archiveExp, err := af.CreateLogs(ctx, exporterSettings(af.Type()), unmarshal(tb, af.CreateDefaultConfig(), archiveConfig(archivePath)))
	require.NoError(tb, err)
	fanout, err := fanOut(syslogExp, archiveExp)
	require.NoError(tb, err)
	pf := auditlogprocessor.NewFactory()
	processor, err := pf.CreateLogs(ctx, processortest.NewNopSettings(pf.Type()), unmarshal(tb, pf.CreateDefaultConfig(), processorConfig()), fanout)
	require.NoError(tb, err)
	rf := auditwebhookreceiver.NewFactory()
	receiver, err := rf.CreateLogs(ctx, receivertest.NewNopSettings(rf.Type()), unmarshal(tb, rf.CreateDefaultConfig(), receiverConfig(endpoint)), processor)
	require.NoError(tb, err)

	p.components = append(p.components, syslogExp, archiveExp, processor, receiver)
	for _, c := range p.components {
		require.NoError(tb, c.Start(ctx, extensions))
	}
	return p
}

// exporterSettings names the exporter by its type alone, as the journal's
// exporters list does.
func exporterSettings(typ component.Type) exporter.Settings {
	set := exportertest.NewNopSettings(typ)
	set.ID = component.NewID(typ)
	return set
}

// fanOut passes each batch to every exporter as the service's fan-out does
// (go.opentelemetry.io/collector/internal/fanoutconsumer, which cannot be
// imported): an exporter that mutates data (one whose sending queue
// batches) gets its own copy, except the last such exporter when no
// read-only one shares the batch; read-only exporters share the original,
// marked read-only when there are several.
func fanOut(exporters ...consumer.Logs) (consumer.Logs, error) {
	var mutable, readonly []consumer.Logs
	for _, e := range exporters {
		if e.Capabilities().MutatesData {
			mutable = append(mutable, e)
		} else {
			readonly = append(readonly, e)
		}
	}
	return consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		var errs []error
		for i, e := range mutable {
			batch := ld
			if i < len(mutable)-1 || len(readonly) > 0 || ld.IsReadOnly() {
				batch = plog.NewLogs()
				ld.CopyTo(batch)
			}
			errs = append(errs, e.ConsumeLogs(ctx, batch))
		}
		if len(readonly) > 1 && !ld.IsReadOnly() {
			ld.MarkReadOnly()
		}
		for _, e := range readonly {
			errs = append(errs, e.ConsumeLogs(ctx, ld))
		}
		return errors.Join(errs...)
	}, consumer.WithCapabilities(consumer.Capabilities{MutatesData: len(mutable) > 0 && len(readonly) == 0}))
}

func (p *pipeline) shutdown(tb testing.TB) {
	for i := len(p.components) - 1; i >= 0; i-- {
		require.NoError(tb, p.components[i].Shutdown(context.Background()))
	}
}

// post sends body until it is accepted, honouring 503s as a sender would
// (but without waiting the Retry-After: the benchmark measures work). It
// returns its error rather than taking a testing.TB: it runs in
// RunParallel's goroutines, where a FailNow would not stop the benchmark.
func post(client *http.Client, url string, body []byte) error {
	for {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable:
			time.Sleep(time.Millisecond)
		default:
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
	}
}

// The wiring above must deliver every event of a few requests, or the
// benchmark's figures would mean nothing.
func TestPipelineDeliversEveryEvent(t *testing.T) {
	scheme := loadid.NewScheme(1)
	var atSink, inArchive loadid.Set
	snk, err := sink.Listen("127.0.0.1:0", scheme, &atSink, 1)
	require.NoError(t, err)
	defer snk.Close()
	archivePath := filepath.Join(t.TempDir(), "audit.jsonl")
	tailer := archivefollow.New(archivePath, scheme, &inArchive)
	p := startPipeline(t, snk.Addr(), archivePath)
	defer p.shutdown(t)

	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	payloads := loadgen.NewPayloads(scheme, 3)
	for range 10 {
		body, _ := payloads.Build(nil, time.Now())
		require.NoError(t, post(client, p.url, body))
	}
	require.Eventually(t, func() bool {
		return tailer.Poll() == nil && atSink.Len() == 30 && inArchive.Len() == 30
	}, time.Minute, 10*time.Millisecond, "%d of 30 events at the sink, %d in the archive", atSink.Len(), inArchive.Len())
	snk.Check()
	require.Equal(t, snk.Stats().Messages, snk.Stats().Checked, "every message checked")
	require.Zero(t, snk.Stats().NotRFC5424, snk.Stats().FirstProblem)
}

// BenchmarkPipeline posts b.N Glassix webhooks from 8 keep-alive clients
// and stops the clock when every event is at the syslog sink and in the
// archivefollow. ns/op is per request; events/s and ns/event count delivered
// events. Allocations include the clients', the sink's and the archive
// reader's.
func BenchmarkPipeline(b *testing.B) {
	for _, events := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", events), func(b *testing.B) {
			scheme := loadid.NewScheme(uint32(time.Now().UnixNano()))
			var atSink, inArchive loadid.Set
			snk, err := sink.Listen("127.0.0.1:0", scheme, &atSink, 1000)
			require.NoError(b, err)
			defer snk.Close()
			archivePath := filepath.Join(b.TempDir(), "audit.jsonl")
			tailer := archivefollow.New(archivePath, scheme, &inArchive)
			p := startPipeline(b, snk.Addr(), archivePath)
			defer p.shutdown(b)

			transport := &http.Transport{MaxIdleConnsPerHost: 8, MaxConnsPerHost: 8}
			defer transport.CloseIdleConnections()
			client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
			payloads := loadgen.NewPayloads(scheme, events)

			// Warm up: the first delivery pays for connecting to the SIEM,
			// opening the archive and the like, which is not what is measured.
			waitDelivered := func(want uint64) {
				deadline := time.Now().Add(2 * time.Minute)
				for atSink.Len() < want || inArchive.Len() < want {
					require.NoError(b, tailer.Poll())
					if time.Now().After(deadline) {
						b.Fatalf("after 2 minutes %d of %d events at the sink, %d in the archive", atSink.Len(), want, inArchive.Len())
					}
					time.Sleep(time.Millisecond)
				}
			}
			body, _ := payloads.Build(nil, time.Now())
			require.NoError(b, post(client, p.url, body))
			waitDelivered(uint64(events))

			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var buf []byte
				for pb.Next() {
					body, _ := payloads.Build(buf, time.Now())
					buf = body
					if err := post(client, p.url, body); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if b.Failed() {
				return // a request failed: its events will never arrive
			}
			want := uint64(b.N * events)
			waitDelivered(want + uint64(events))
			b.StopTimer()
			elapsed := b.Elapsed()
			b.ReportMetric(float64(want)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(want), "ns/event")
		})
	}
}
