package rfc5424exporter

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"

	"github.com/otelcol-audit/otelcol-audit/exporter/rfc5424exporter/internal/metadata"
	"github.com/otelcol-audit/otelcol-audit/internal/auditrecord"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// hostileValue holds everything RFC 5424 makes a sender escape, plus what
// could forge a second record, plus text outside ASCII.
const hostileValue = "say \"hi\" \\o/ [x] a]b\\]c\nsecond line\r\nend 中文 ünïcödé 🚀"

// auditLogs is a Glassix event as the receiver hands it over (nested
// attributes), and a CTReplay event with hostile content.
func auditLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceGlassix)
	r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 1, 15, 11, 19, 7, 793559700, time.UTC)))
	r.SetEventName("RoleRemoved")
	r.SetSeverityNumber(plog.SeverityNumberWarn)
	r.Body().SetStr("[email protected] removed role SystemUser from [email protected]")
	r.Attributes().PutStr("id", "ad681bbc-9608-4a2a-a283-717011f35c35")
	u := r.Attributes().PutEmptyMap("initiatorUser")
	u.PutStr("UserName", "[email protected]")
	u.PutBool("isAnonymous", false)
	r.Attributes().PutStr("ipAddress", "212.199.97.210")

	rl = ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr(auditrecord.AttrSource, auditrecord.SourceCTReplay)
	r = rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC)))
	r.SetEventName("session.play")
	r.SetSeverityNumber(plog.SeverityNumberError)
	r.Body().SetStr("line one\nline two é")
	r.Attributes().PutStr("value", hostileValue)
	r.Attributes().PutStr("bad name=x", "repaired")
	r.Attributes().PutStr("empty", "")
	return ld
}

// nonTransparent is how a value reads after newline framing escaped it.
func nonTransparent(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func TestRealServersParseEveryField(t *testing.T) {
	cases := []struct {
		transport, framing string
		relpTLS            bool
	}{
		{TransportTCP, FramingOctetCounting, false},
		{TransportTCP, FramingNonTransparent, false},
		{TransportTLS, FramingOctetCounting, false},
		{TransportTLS, FramingNonTransparent, false},
		{TransportUDP, "", false},
		{TransportUnix, FramingNonTransparent, false},
		{TransportUnixgram, "", false},
		{TransportRELP, "", false},
		{TransportRELP, "tls", true},
	}
	for _, kind := range syslogtest.Kinds {
		for _, c := range cases {
			if !kind.Supports(c.transport, c.framing) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%s", kind, c.transport, c.framing), func(t *testing.T) {
				srvCfg := syslogtest.Config{Transport: c.transport, Framing: c.framing, RequireClientCert: true}
				cfg := syncConfig("")
				cfg.Transport, cfg.Framing = c.transport, c.framing
				if c.transport == TransportRELP {
					srvCfg.Framing, cfg.Framing = "", ""
					cfg.RELP.TLS = c.relpTLS
				}
				if c.transport == TransportTLS || c.relpTLS {
					files := syslogtest.NewTLSFiles(t)
					srvCfg.TLS = files
					cfg.TLS = configtls.ClientConfig{Config: configtls.Config{
						CAFile: files.CAFile, CertFile: files.ClientCertFile, KeyFile: files.ClientKey,
					}}
				}
				srv := syslogtest.Start(t, kind, srvCfg)
				cfg.Endpoint = srv.Endpoint()
				require.NoError(t, cfg.Validate())
				exp := startExporter(t, cfg)

				require.NoError(t, exp.ConsumeLogs(context.Background(), auditLogs()))
				got := srv.WaitForMessages(2)
				require.Len(t, got, 2)

				glassix := got[0]
				assert.Equal(t, 20*8+4, glassix.Priority, "local4.warning")
				assert.Equal(t, time.Date(2024, 1, 15, 11, 19, 7, 793559000, time.UTC), glassix.Timestamp.UTC())
				assert.Equal(t, "collector-1", glassix.Hostname)
				assert.Equal(t, "glassix", glassix.AppName)
				assert.Empty(t, glassix.ProcID)
				assert.Equal(t, "RoleRemoved", glassix.MsgID)
				assert.Equal(t, map[string]map[string]string{"data": {
					"id":                        "ad681bbc-9608-4a2a-a283-717011f35c35",
					"initiatorUser_UserName":    "[email protected]",
					"initiatorUser_isAnonymous": "false",
					"ipAddress":                 "212.199.97.210",
				}}, glassix.StructuredData)
				assert.Equal(t, "RoleRemoved: [email protected] removed role SystemUser from [email protected]", glassix.Message)

				ctr := got[1]
				assert.Equal(t, 20*8+3, ctr.Priority, "local4.err")
				assert.Equal(t, time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC), ctr.Timestamp.UTC(), "truncated, not rounded")
				assert.Equal(t, "ctreplay", ctr.AppName)
				assert.Equal(t, "session.play", ctr.MsgID)
				wantValue, wantMsg := hostileValue, "session.play: line one\nline two é"
				if cfg.framing() == FramingNonTransparent && (c.transport != TransportUDP && c.transport != TransportUnixgram) {
					wantValue, wantMsg = nonTransparent(wantValue), nonTransparent(wantMsg)
				}
				assert.Equal(t, map[string]map[string]string{"data": {
					"value":      wantValue,
					"bad_name_x": "repaired",
					"empty":      "",
				}}, ctr.StructuredData)
				assert.Equal(t, wantMsg, ctr.Message)
			})
		}
	}
}

// retryForever retries quickly and never gives up, so a test sees
// redelivery without waiting on production backoff.
func retryForever() configretry.BackOffConfig {
	r := configretry.NewDefaultBackOffConfig()
	r.InitialInterval = 10 * time.Millisecond
	r.MaxInterval = 200 * time.Millisecond
	r.MaxElapsedTime = 0
	return r
}

// numbered returns one record whose attribute "seq" is i.
func numbered(i int) plog.Logs {
	ld := newLogs("sippy", "Seq")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr("seq", strconv.Itoa(i))
	return ld
}

// assertSequence checks that msgs hold seq 0..n-1 exactly once each.
func assertSequence(t *testing.T, msgs []syslogtest.Message, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.StructuredData["data"]["seq"]]++
	}
	for i := 0; i < n; i++ {
		assert.Equal(t, 1, seen[strconv.Itoa(i)], "record %d must arrive exactly once", i)
	}
	assert.Len(t, msgs, n)
}

func TestServerRestartLosesNothing(t *testing.T) {
	for _, kind := range syslogtest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			srv := syslogtest.Start(t, kind, syslogtest.Config{Transport: TransportTCP, Framing: FramingOctetCounting})
			cfg := createDefaultConfig().(*Config)
			cfg.Endpoint = srv.Endpoint()
			cfg.Hostname = "collector-1"
			cfg.RetryConfig = retryForever()
			exp := startExporter(t, cfg)

			const perPhase = 50
			seq := 0
			sendPhase := func() {
				for i := 0; i < perPhase; i++ {
					require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(seq)))
					seq++
				}
			}
			sendPhase()
			srv.WaitForMessages(perPhase)

			// The server goes away under an open connection; records keep
			// coming and wait in the queue.
			srv.Stop()
			sendPhase()
			srv.Start()
			sendPhase()

			got := srv.WaitForMessages(seq)
			assertSequence(t, got, seq)
		})
	}
}

// storageHost hands exporters their storage extension.
type storageHost struct {
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func TestPersistentQueueSurvivesCollectorRestart(t *testing.T) {
	srv := syslogtest.Start(t, syslogtest.Rsyslog, syslogtest.Config{Transport: TransportTCP, Framing: FramingOctetCounting})
	srv.Stop() // the SIEM is down for the whole first run

	storageID := component.MustNewIDWithName("file_storage", "queue")
	dir := t.TempDir()
	newStorage := func() (extension.Extension, storageHost) {
		f := filestorage.NewFactory()
		sc := f.CreateDefaultConfig().(*filestorage.Config)
		sc.Directory = dir
		sc.Compaction.Directory = filepath.Join(dir)
		ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), sc)
		require.NoError(t, err)
		require.NoError(t, ext.Start(context.Background(), nil))
		return ext, storageHost{exts: map[component.ID]component.Component{storageID: ext}}
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = srv.Endpoint()
	cfg.Hostname = "collector-1"
	cfg.RetryConfig = retryForever()
	cfg.QueueConfig.Get().StorageID = &storageID

	// First run: records are accepted into the persistent queue and the
	// collector stops before the SIEM comes back.
	ext, host := newStorage()
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	core, logs := observer.New(zap.InfoLevel)
	set.Logger = zap.New(core, zap.AddStacktrace(zap.ErrorLevel))
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	const n = 20
	for i := 0; i < n; i++ {
		require.NoError(t, exp.ConsumeLogs(context.Background(), numbered(i)))
	}
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Will retry").Len() > 0 }, time.Minute, 5*time.Millisecond,
		"the exporter tried the SIEM and waits to retry")
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	// The stop interrupted that wait; the queue keeps the records, and the
	// log says so rather than "Dropping data".
	assert.Zero(t, logs.FilterMessageSnippet("Dropping").Len(), "no loss claimed: %v", logs.FilterMessageSnippet("Dropping").All())
	kept := logs.FilterMessageSnippet("kept in the persistent queue").All()
	require.NotEmpty(t, kept)
	assert.Equal(t, zap.InfoLevel, kept[0].Level)
	assert.Empty(t, kept[0].Stack)
	assert.Contains(t, kept[0].ContextMap(), "kept_items")

	// Second run with the same storage: the SIEM is up and gets them all.
	srv.Start()
	ext, host = newStorage()
	exp = createExporter(t, cfg)
	require.NoError(t, exp.Start(context.Background(), host))
	got := srv.WaitForMessages(n)
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
	assertSequence(t, got, n)
}
