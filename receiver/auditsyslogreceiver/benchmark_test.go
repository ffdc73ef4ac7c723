package auditsyslogreceiver

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
)

// countingSink counts records and signals when it has seen want of them.
type countingSink struct {
	n    int
	want int
	done chan struct{}
}

func (s *countingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *countingSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.n += ld.LogRecordCount()
	if s.n >= s.want && s.done != nil {
		close(s.done)
		s.done = nil
	}
	return nil
}

// BenchmarkTCPThroughput sends CTReplay events as winston-syslog writes
// them (RFC 3164 header, JSON message, no delimiter) over a real loopback
// TCP connection, and counts the records reaching the pipeline (a sink
// that keeps nothing). One op is one event.
func BenchmarkTCPThroughput(b *testing.B) {
	sink := &countingSink{}
	r := startReceiver(b, func(cfg *Config) {
		cfg.UDP.Endpoint, cfg.Unix.Endpoint, cfg.Unixgram.Endpoint = "", "", ""
	}, sink)
	var chunk bytes.Buffer
	const perChunk = 1000
	for i := range perChunk {
		chunk.WriteString(bsd(event(i, `"id=42"`)))
	}
	b.SetBytes(int64(chunk.Len() / perChunk))
	c, err := net.Dial("tcp", r.addr("tcp").String())
	require.NoError(b, err)
	defer c.Close()
	done := make(chan struct{})
	sink.want, sink.done = b.N, done
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += perChunk {
		k := min(perChunk, b.N-sent)
		data := chunk.Bytes()
		if k < perChunk {
			data = []byte{}
			for i := range k {
				data = append(data, bsd(event(i, `"id=42"`))...)
			}
		}
		_, err := c.Write(data)
		require.NoError(b, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d records", sink.n, b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkUDPSustained sends CTReplay events over loopback UDP at fixed
// rates for two seconds each, with the default config, and reports how
// many were lost (datagrams the kernel or the hand-off dropped). The
// highest rate with lost=0 is the sustained 0-loss rate the README gives.
// Run with -benchtime 1x: one op is one two-second run.
func BenchmarkUDPSustained(b *testing.B) {
	for _, rate := range []int{25_000, 50_000, 60_000, 75_000, 100_000} {
		b.Run(strconv.Itoa(rate)+"_per_s", func(b *testing.B) {
			for range b.N {
				sink := &countingSink{}
				r := startReceiver(b, func(cfg *Config) {
					cfg.TCP.Endpoint, cfg.Unix.Endpoint, cfg.Unixgram.Endpoint = "", "", ""
				}, sink)
				c, err := net.Dial("udp", r.addr("udp").String())
				require.NoError(b, err)
				msg := []byte(bsd(event(1, `"id=42"`)))
				const seconds = 2
				total := rate * seconds
				done := make(chan struct{})
				sink.want, sink.done = total, done
				tick := time.NewTicker(time.Millisecond)
				start := time.Now()
				for sent := 0; sent < total; {
					<-tick.C
					due := min(total, int(float64(rate)*time.Since(start).Seconds()))
					for ; sent < due; sent++ {
						_, _ = c.Write(msg)
					}
				}
				tick.Stop()
				sending := time.Since(start)
				select {
				case <-done:
				case <-time.After(3 * time.Second):
				}
				c.Close()
				b.ReportMetric(float64(total-sink.n), "lost")
				b.ReportMetric(float64(total)/sending.Seconds(), "sent/s")
			}
		})
	}
}
