package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
)

// maxCallRecords bounds the records of one pipeline call made from
// datagrams; the exporters' default sending queues hold 5000.
const maxCallRecords = 1000

// drainDatagrams is how long, at shutdown, a datagram socket is still read
// for what its receive buffer holds.
const drainDatagrams = 200 * time.Millisecond

// datagramListener reads a udp or unixgram socket. A reader goroutine does
// nothing but read datagrams into a bounded hand-off queue, so it never
// waits on the pipeline; a consumer goroutine turns them into records and
// pipeline calls.
type datagramListener struct {
	r         *syslogReceiver
	transport string
	conn      net.PacketConn
	obs       *receiverhelper.ObsReport
	path      string
	// block: a full hand-off makes the reader wait instead of dropping
	// (unixgram: the kernel then pushes back on the sender instead of
	// dropping).
	block bool

	queue  chan datagram
	queued atomic.Int64 // bytes in queue
	space  chan struct{}

	// Drops, logged at most every dropLogEvery. dropMu guards them: the
	// reader and the /proc watcher both count.
	dropMu        sync.Mutex
	inode         uint64 // the UDP socket's, for /proc/net/udp; 0 unknown
	kernelDrops   uint32 // the kernel's drop counter for the socket, last seen
	droppedKernel int64
	droppedFull   int64
	lastDropLog   time.Time
	loggedKernel  int64
	loggedFull    int64
	dropAttrsK    metric.MeasurementOption
	dropAttrsQ    metric.MeasurementOption
	stopOnce      sync.Once
	stopWatch     chan struct{} // ends watchDrops; nil without one
}

type datagram struct {
	data []byte
	from string
}

const dropLogEvery = 10 * time.Second

// minDgramQueueLen is the net.unix.max_dgram_qlen below which the receiver
// warns: Linux's default, 10, refuses bursts of winston-syslog's unix
// protocol; 512 took 5000 events back to back in the e2e suite.
const minDgramQueueLen = 512

func (r *syslogReceiver) startDatagram(transport, endpoint string, cfg DatagramConfig) error {
	obs, err := r.newObsReport(transport)
	if err != nil {
		return err
	}
	l := &datagramListener{
		r: r, transport: transport, obs: obs,
		queue: make(chan datagram, r.cfg.QueueSize),
		space: make(chan struct{}, 1),
		block: transport == "unixgram",
	}
	base := []attribute.KeyValue{attribute.String("receiver", r.set.ID.String()), attribute.String("transport", transport)}
	l.dropAttrsK = metric.WithAttributeSet(attribute.NewSet(append(base, attribute.String("reason", "kernel"))...))
	l.dropAttrsQ = metric.WithAttributeSet(attribute.NewSet(append(base, attribute.String("reason", "queue_full"))...))
	if transport == "unixgram" {
		if err := removeStaleSocket(endpoint); err != nil {
			return fmt.Errorf("unixgram::endpoint: %w", err)
		}
		uc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: endpoint, Net: "unixgram"})
		if err != nil {
			return fmt.Errorf("unixgram::endpoint: %w", err)
		}
		l.conn, l.path = uc, endpoint
		m, _ := parseMode(cfg.SocketMode)
		if err := os.Chmod(endpoint, fs.FileMode(m)); err != nil {
			uc.Close()
			return fmt.Errorf("unixgram::socket_mode: %w", err)
		}
	} else {
		addr, err := net.ResolveUDPAddr("udp", endpoint)
		if err != nil {
			return fmt.Errorf("udp::endpoint: %w", err)
		}
		uc, err := net.ListenUDP("udp", addr)
		if err != nil {
			return fmt.Errorf("udp::endpoint: %w", err)
		}
		l.conn = uc
		if err := enableDropCounter(uc); err != nil {
			r.set.Logger.Warn("Cannot count datagrams the kernel drops (SO_RXQ_OVFL); only /proc/net/udp will show them", zap.Error(err))
		}
		if ino, err := socketInode(uc); err == nil {
			l.inode = ino
		}
	}
	if cfg.ReceiveBufferSize > 0 {
		got, forced, err := setReceiveBuffer(l.conn, cfg.ReceiveBufferSize)
		switch {
		case err != nil:
			r.set.Logger.Warn("Cannot set the socket's receive buffer", zap.String("transport", transport), zap.Int("receive_buffer_size", cfg.ReceiveBufferSize), zap.Error(err))
		case got < cfg.ReceiveBufferSize:
			r.set.Logger.Warn(fmt.Sprintf("The socket's receive buffer is %d bytes, not the %d of receive_buffer_size: the kernel caps it at net.core.rmem_max. Bursts larger than the buffer are dropped by the kernel. Raise the cap (sysctl -w net.core.rmem_max=%d) or give the collector CAP_NET_ADMIN, which lets it force the size", got, cfg.ReceiveBufferSize, cfg.ReceiveBufferSize),
				zap.String("transport", transport))
		default:
			r.set.Logger.Debug("Receive buffer set", zap.String("transport", transport), zap.Int("bytes", got), zap.Bool("forced", forced))
		}
	}
	if transport == "unixgram" {
		if qlen, err := unixDgramQueueLen(); err == nil && qlen < minDgramQueueLen {
			r.set.Logger.Warn(fmt.Sprintf("The kernel queues at most %d datagrams on a unix datagram socket (net.unix.max_dgram_qlen): a sender that writes a burst faster than the collector reads is refused (EAGAIN), and winston-syslog's unix protocol drops what was refused. Raise it before the collector starts: sysctl -w net.unix.max_dgram_qlen=%d", qlen, minDgramQueueLen),
				zap.String("transport", transport))
		}
	}
	r.set.Logger.Info("Listening for CTReplay syslog", zap.String("transport", transport), zap.String("endpoint", l.conn.LocalAddr().String()))
	r.datagrams = append(r.datagrams, l)
	r.wg.Add(2)
	go l.read()
	go l.consume()
	if l.inode != 0 {
		l.stopWatch = make(chan struct{})
		r.wg.Add(1)
		go l.watchDrops(l.stopWatch)
	}
	return nil
}

// read reads datagrams until the socket is closed or, at shutdown, its
// buffer is empty.
func (l *datagramListener) read() {
	defer l.r.wg.Done()
	defer close(l.queue)
	size := max(l.r.cfg.MaxMessageSize, 65536) + 1
	buf := make([]byte, size)
	oob := make([]byte, 128)
	udp, _ := l.conn.(*net.UDPConn)
	unix, _ := l.conn.(*net.UnixConn)
	for {
		var n, oobn int
		var from net.Addr
		var err error
		if udp != nil {
			var ua *net.UDPAddr
			n, oobn, _, ua, err = udp.ReadMsgUDP(buf, oob)
			if ua != nil {
				from = ua
			}
		} else {
			var ua *net.UnixAddr
			n, _, _, ua, err = unix.ReadMsgUnix(buf, nil)
			if ua != nil {
				from = ua
			}
		}
		if oobn > 0 {
			l.countKernelDrops(oob[:oobn])
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			select {
			case <-l.r.stopping:
				return
			default:
			}
			l.r.set.Logger.Warn("Reading a datagram failed", zap.String("transport", l.transport), zap.Error(err))
			continue
		}
		d := datagram{data: append([]byte(nil), buf[:n]...)}
		if from != nil {
			d.from = from.String()
		}
		l.enqueue(d)
	}
}

// enqueue hands a datagram to the consumer without waiting (udp: a full
// hand-off drops it, counted) or waiting for room (unixgram).
func (l *datagramListener) enqueue(d datagram) {
	for {
		if l.queued.Load()+int64(len(d.data)) <= int64(l.r.cfg.QueueBytes) {
			select {
			case l.queue <- d:
				l.queued.Add(int64(len(d.data)))
				return
			default:
			}
		}
		if !l.block {
			l.dropMu.Lock()
			l.droppedFull++
			l.dropMu.Unlock()
			l.r.tb.ReceiverAuditsyslogDroppedMessages.Add(context.Background(), 1, l.dropAttrsQ)
			l.logDrops()
			return
		}
		select {
		case <-l.space:
		case <-time.After(10 * time.Millisecond):
		case <-l.r.abort:
			return
		}
	}
}

// logDrops logs the drops since the last log, at most every dropLogEvery.
func (l *datagramListener) logDrops() {
	l.dropMu.Lock()
	defer l.dropMu.Unlock()
	l.logDropsLocked()
}

func (l *datagramListener) logDropsLocked() {
	if time.Since(l.lastDropLog) < dropLogEvery {
		return
	}
	l.lastDropLog = time.Now()
	k, q := l.droppedKernel-l.loggedKernel, l.droppedFull-l.loggedFull
	l.loggedKernel, l.loggedFull = l.droppedKernel, l.droppedFull
	if k > 0 {
		l.r.set.Logger.Error("Datagrams lost: the kernel dropped them because the socket's receive buffer was full (raise udp::receive_buffer_size, and net.core.rmem_max if the collector lacks CAP_NET_ADMIN)",
			zap.String("transport", l.transport), zap.Int64("dropped", k), zap.Int64("dropped_total", l.droppedKernel))
	}
	if q > 0 {
		l.r.set.Logger.Error("Datagrams lost: the hand-off to the pipeline was full (the pipeline is slower than the sender or refuses; raise queue_size/queue_bytes or fix the exporters)",
			zap.String("transport", l.transport), zap.Int64("dropped", q), zap.Int64("dropped_total", l.droppedFull))
	}
}

func (l *datagramListener) countKernelDrops(oob []byte) {
	if total, ok := parseDropCounter(oob); ok {
		l.kernelDropTotal(total)
	}
}

// kernelDropTotal takes a reading of the kernel's cumulative drop counter
// (from SO_RXQ_OVFL or /proc/net/udp) and counts what is new.
func (l *datagramListener) kernelDropTotal(total uint32) {
	l.dropMu.Lock()
	defer l.dropMu.Unlock()
	if total > l.kernelDrops {
		d := total - l.kernelDrops
		l.kernelDrops = total
		l.droppedKernel += int64(d)
		l.r.tb.ReceiverAuditsyslogDroppedMessages.Add(context.Background(), int64(d), l.dropAttrsK)
		l.logDropsLocked()
	}
}

// procDropsEvery is how often /proc/net/udp is read for drops that no later
// datagram reported.
const procDropsEvery = 5 * time.Second

// watchDrops reads the socket's drop count in /proc/net/udp every
// procDropsEvery, and once more when the listener stops.
func (l *datagramListener) watchDrops(stop <-chan struct{}) {
	defer l.r.wg.Done()
	t := time.NewTicker(procDropsEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			if total, ok := procUDPDrops(l.inode); ok {
				l.kernelDropTotal(total)
			}
			return
		}
		if total, ok := procUDPDrops(l.inode); ok {
			l.kernelDropTotal(total)
		}
	}
}

// consume turns queued datagrams into records, up to maxCallRecords per
// pipeline call, until the reader has stopped and the queue is empty.
func (l *datagramListener) consume() {
	r := l.r
	defer r.wg.Done()
	max := r.cfg.MaxMessageSize
	reasm := newReassembler(max)
	for {
		var d datagram
		var ok bool
		if reasm.pending() {
			select {
			case d, ok = <-l.queue:
			case <-time.After(reassemblyWait):
				b := r.newBatch()
				now := pcommon.NewTimestampFromTime(time.Now())
				reasm.flush(func(m frame.Message) { r.add(b, m, now) })
				r.deliver(l.obs, l.transport, b)
				continue
			}
		} else {
			d, ok = <-l.queue
		}
		if !ok {
			b := r.newBatch()
			now := pcommon.NewTimestampFromTime(time.Now())
			reasm.flush(func(m frame.Message) { r.add(b, m, now) })
			r.deliver(l.obs, l.transport, b)
			return
		}
		b := r.newBatch()
		now := pcommon.NewTimestampFromTime(time.Now())
		emit := func(m frame.Message) { r.add(b, m, now) }
		l.took(d)
		reasm.add(d, emit)
	more:
		for b.lrs.Len() < maxCallRecords {
			select {
			case d, ok = <-l.queue:
				if !ok {
					break more
				}
				l.took(d)
				reasm.add(d, emit)
			default:
				break more
			}
		}
		r.deliver(l.obs, l.transport, b)
		if !ok {
			b := r.newBatch()
			reasm.flush(func(m frame.Message) { r.add(b, m, now) })
			r.deliver(l.obs, l.transport, b)
			return
		}
	}
}

func (l *datagramListener) took(d datagram) {
	l.queued.Add(-int64(len(d.data)))
	select {
	case l.space <- struct{}{}:
	default:
	}
}

// stop reads what the socket's buffer holds for a moment, then the reader
// ends, and the consumer hands on everything queued.
func (l *datagramListener) stop() {
	l.stopOnce.Do(func() {
		_ = l.conn.SetReadDeadline(time.Now().Add(drainDatagrams))
		if l.stopWatch != nil {
			close(l.stopWatch)
		}
	})
}

func (l *datagramListener) cleanup() {
	l.conn.Close()
	if l.path != "" {
		_ = os.Remove(l.path)
	}
	if l.droppedKernel+l.droppedFull > 0 {
		l.r.set.Logger.Warn("Datagrams lost while this receiver ran", zap.String("transport", l.transport),
			zap.Int64("kernel_buffer_full", l.droppedKernel), zap.Int64("queue_full", l.droppedFull))
	}
}
