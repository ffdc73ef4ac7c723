package examples

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/syslogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/tcplogreceiver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/udplogreceiver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-audit/otelcol-audit/processor/auditlogprocessor"
	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"
)

// examplePipeline runs the receiver and processor part of one pipeline of a
// shipped example config, in process, into a sink: the config is resolved
// from the example file itself (with ${env:...} as the collector resolves
// it), so the tests break when the example does. Exporters belong to other
// components and are left out, as are processors this test does not know
// (memory_limiter); the config's file_storage extensions are real.
type examplePipeline struct {
	t          *testing.T
	conf       *confmap.Conf
	pipeline   string
	sink       *consumertest.LogsSink
	components []component.Component // in start order
	host       host
}

type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

var (
	receiverFactories = factoriesByType(auditsyslogreceiver.NewFactory(), filelogreceiver.NewFactory(), syslogreceiver.NewFactory(), tcplogreceiver.NewFactory(), udplogreceiver.NewFactory())
	processorFactory  = auditlogprocessor.NewFactory()
	storageFactory    = filestorage.NewFactory()
)

func factoriesByType(fs ...receiver.Factory) map[component.Type]receiver.Factory {
	m := map[component.Type]receiver.Factory{}
	for _, f := range fs {
		m[f.Type()] = f
	}
	return m
}

// loadExample resolves the example config file.
func loadExample(t *testing.T, name string) *confmap.Conf {
	t.Helper()
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + filepath.Join(".", name)},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
		DefaultScheme:     "env",
	})
	require.NoError(t, err)
	conf, err := r.Resolve(context.Background())
	require.NoError(t, err)
	return conf
}

// startExample builds and starts the pipeline's extensions, processor and
// receivers. Call stop (also run at cleanup) to shut them down in reverse.
func startExample(t *testing.T, conf *confmap.Conf, pipeline string) *examplePipeline {
	t.Helper()
	ctx := context.Background()
	p := &examplePipeline{t: t, conf: conf, pipeline: pipeline, sink: new(consumertest.LogsSink), host: host{}}
	t.Cleanup(p.stop)

	for _, id := range p.ids("service::extensions") {
		require.Equal(t, storageFactory.Type(), id.Type(), "the example uses only file_storage extensions")
		cfg := storageFactory.CreateDefaultConfig()
		p.unmarshal("extensions::"+id.String(), cfg)
		set := extensiontest.NewNopSettings(storageFactory.Type())
		set.ID = id
		ext, err := storageFactory.Create(ctx, set, cfg)
		require.NoError(t, err)
		p.start(ext)
		p.host[id] = ext
	}

	var procs []component.ID
	for _, id := range p.ids("service::pipelines::" + pipeline + "::processors") {
		if id.Type() == processorFactory.Type() {
			procs = append(procs, id)
		}
	}
	require.Len(t, procs, 1, "the pipeline has one auditlog processor")
	pcfg := processorFactory.CreateDefaultConfig()
	p.unmarshal("processors::"+procs[0].String(), pcfg)
	pset := processortest.NewNopSettings(processorFactory.Type())
	pset.ID = procs[0]
	proc, err := processorFactory.CreateLogs(ctx, pset, pcfg, p.sink)
	require.NoError(t, err)

	var receivers []component.Component
	for _, id := range p.ids("service::pipelines::" + pipeline + "::receivers") {
		f, ok := receiverFactories[id.Type()]
		require.True(t, ok, "receiver %s", id)
		cfg := f.CreateDefaultConfig()
		p.unmarshal("receivers::"+id.String(), cfg)
		set := receivertest.NewNopSettings(f.Type())
		set.ID = id
		rcv, err := f.CreateLogs(ctx, set, cfg, proc)
		require.NoError(t, err)
		receivers = append(receivers, rcv)
	}
	p.start(proc)
	for _, r := range receivers {
		p.start(r)
	}
	return p
}

// ids reads a list of component IDs at key.
func (p *examplePipeline) ids(key string) []component.ID {
	p.t.Helper()
	names, ok := p.conf.Get(key).([]any)
	require.True(p.t, ok, "%s is a list in the example", key)
	out := make([]component.ID, len(names))
	for i, n := range names {
		s, ok := n.(string)
		require.True(p.t, ok, "%s[%d] is a component id", key, i)
		require.NoError(p.t, out[i].UnmarshalText([]byte(s)))
	}
	return out
}

// unmarshal reads the component config at key and validates it, as the
// collector does.
func (p *examplePipeline) unmarshal(key string, cfg component.Config) {
	p.t.Helper()
	require.True(p.t, p.conf.IsSet(key), "%s is in the example", key)
	sub, err := p.conf.Sub(key)
	require.NoError(p.t, err)
	require.NoError(p.t, sub.Unmarshal(cfg), key)
	require.NoError(p.t, confmap.Validate(cfg), key)
}

func (p *examplePipeline) start(c component.Component) {
	p.t.Helper()
	require.NoError(p.t, c.Start(context.Background(), p.host))
	p.components = append(p.components, c)
}

// stop shuts everything down, receivers first; it may be called twice.
func (p *examplePipeline) stop() {
	for i := len(p.components) - 1; i >= 0; i-- {
		require.NoError(p.t, p.components[i].Shutdown(context.Background()))
	}
	p.components = nil
}

// records waits until the sink holds n records and returns them.
func (p *examplePipeline) records(n int) []record {
	p.t.Helper()
	require.EventuallyWithT(p.t, func(c *assert.CollectT) {
		if got := p.sink.LogRecordCount(); got < n {
			c.Errorf("%d of %d records so far", got, n)
		}
	}, 30*time.Second, 20*time.Millisecond)
	var out []record
	for _, ld := range p.sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, record{res: rl.Resource(), LogRecord: lrs.At(k)})
				}
			}
		}
	}
	return out
}

type record struct {
	res pcommon.Resource
	plog.LogRecord
}

func (r record) attr(k string) string {
	v, ok := r.Attributes().Get(k)
	if !ok {
		return "<absent>"
	}
	return v.AsString()
}

func (r record) resAttr(k string) string {
	v, ok := r.res.Attributes().Get(k)
	if !ok {
		return "<absent>"
	}
	return v.AsString()
}

// freePort returns a 127.0.0.1 address with a port free for network
// ("tcp" or "udp") right now: stanza's inputs do not report the port they
// bound, so the test picks it.
func freePort(t *testing.T, network string) string {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		defer c.Close()
		return c.LocalAddr().String()
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return l.Addr().String()
	}
}

// winstonSyslog formats a message as winston-syslog's default producer
// (glossy, type BSD) does: "<PRI>Mmm dd hh:mm:ss host app[pid]: msg", the
// day padded with a space.
func winstonSyslog(facility, severity int, t time.Time, host, app string, pid int, msg string) string {
	return fmt.Sprintf("<%d>%s %2d %s %s %s[%d]: %s", facility*8+severity, t.Format("Jan"), t.Day(), t.Format("15:04:05"), host, app, pid, msg)
}
