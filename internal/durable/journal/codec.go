package journal

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/plog"
)

// s2Magic starts an entry whose records are S2-compressed OTLP protobuf.
// An uncompressed entry (a small call, or one written by an earlier
// version) is the bare protobuf, whose first byte is a field tag (0x0a
// for ExportLogsServiceRequest's resource_logs): never 0xff.
var s2Magic = []byte{0xff, 's', '2', 0x01}

// compressFrom is the smallest encoded call that is compressed. A large
// call's bytes are what an entry costs: each is written to the log,
// fsynced and, when the entry outlives its memtable, flushed and compacted
// once more before the entry is deleted. Audit records repeat their field
// names and much of their values from one record to the next: a call of
// 100 Glassix events shrank 17-fold in the load harness's bodies. A call
// of one event (1-2 KB) gains little, and its cost is the commit and the
// fsync, not its bytes: it is written as it is.
const compressFrom = 8 << 10

// maxDecoded bounds what a compressed entry may declare as its size: a
// damaged length field could otherwise ask for 4 GiB. No call comes near
// it (the memory_limiter refuses long before); a larger one is stored
// uncompressed.
const maxDecoded = 256 << 20

// encodeEntry marshals a call's records, compressing large calls.
func encodeEntry(ld plog.Logs) ([]byte, error) {
	var m plog.ProtoMarshaler
	raw, err := m.MarshalLogs(ld)
	if err != nil || len(raw) < compressFrom || len(raw) > maxDecoded {
		return raw, err
	}
	// Compressed into a scratch buffer sized for the worst case, then
	// copied out at its size: the entry outlives the call in the storage's
	// batch, the scratch does not.
	sp, _ := scratch.Get().(*[]byte)
	if sp == nil {
		sp = new([]byte)
	}
	if need := s2.MaxEncodedLen(len(raw)); cap(*sp) < need {
		*sp = make([]byte, need)
	}
	enc := s2.Encode((*sp)[:cap(*sp)], raw)
	out := make([]byte, len(s2Magic)+len(enc))
	copy(out, s2Magic)
	copy(out[len(s2Magic):], enc)
	scratch.Put(sp)
	return out, nil
}

// scratch holds encodeEntry's compression buffers.
var scratch sync.Pool

// decodeEntry reads an entry written by encodeEntry, compressed or not.
// An entry without records is damaged: Append writes none.
func decodeEntry(value []byte) (plog.Logs, error) {
	var u plog.ProtoUnmarshaler
	raw := value
	if len(value) >= len(s2Magic) && string(value[:len(s2Magic)]) == string(s2Magic) {
		body := value[len(s2Magic):]
		n, err := s2.DecodedLen(body)
		if err == nil && n > maxDecoded {
			err = fmt.Errorf("it declares %d bytes, more than the %d any entry holds", n, maxDecoded)
		}
		if err == nil {
			raw, err = s2.Decode(nil, body)
		}
		if err != nil {
			return plog.Logs{}, fmt.Errorf("decompressing: %w", err)
		}
	}
	ld, err := u.UnmarshalLogs(raw)
	if err == nil && ld.LogRecordCount() == 0 {
		err = errors.New("the entry holds no records")
	}
	return ld, err
}
