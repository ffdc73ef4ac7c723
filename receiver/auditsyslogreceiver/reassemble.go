package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"time"

	"github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver/internal/frame"
)

// udpChunk is the size of the pieces winston-syslog cuts a message longer
// than one UDP datagram into (its MAX_UDP_PAYLOAD): it sends them back to
// back from one socket, with no header on the pieces after the first.
const udpChunk = 65507

// reassemblyWait is how long a piece waits for the next one before it is
// handed on as it is (flagged, since its JSON does not close).
const reassemblyWait = 500 * time.Millisecond

// reassembler joins winston-syslog's pieces of a long message again: a
// datagram of exactly udpChunk bytes whose JSON object does not close is
// held, and the next datagram from the same sender appended to it, up to
// max_message_size.
type reassembler struct {
	max  int
	held map[string][]byte
}

func newReassembler(max int) *reassembler {
	return &reassembler{max: max, held: map[string][]byte{}}
}

func (a *reassembler) pending() bool { return len(a.held) > 0 }

func (a *reassembler) add(d datagram, emit func(frame.Message)) {
	data := d.data
	if h, ok := a.held[d.from]; ok {
		delete(a.held, d.from)
		data = append(h, data...)
	}
	if len(d.data) == udpChunk && len(data) <= a.max && frame.Unfinished(data) {
		a.held[d.from] = data
		return
	}
	emit(frame.Datagram(data, a.max))
}

// flush hands on every held piece as it is.
func (a *reassembler) flush(emit func(frame.Message)) {
	for from, h := range a.held {
		m := frame.Datagram(h, a.max)
		if m.Problem == "" {
			m.Problem = "the message's JSON object does not close: the rest of a message cut into datagrams never came"
		}
		emit(m)
		delete(a.held, from)
	}
}
