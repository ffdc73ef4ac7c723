package journal

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func bigCall(prefix string, n int) (plog.Logs, []string) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return logs(ids...), ids
}

func rawProto(t *testing.T, ld plog.Logs) []byte {
	var m plog.ProtoMarshaler
	b, err := m.MarshalLogs(ld)
	require.NoError(t, err)
	return b
}

// A call of many records is stored compressed, a call of one as it is,
// and both are replayed after a restart.
func TestLargeCallsAreCompressed(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	big, bigIDs := bigCall("big", 400)
	require.GreaterOrEqual(t, len(rawProto(t, big)), compressFrom, "the test's large call is large")
	small := logs("small")
	seqBig := appendLogs(t, j, big)
	seqSmall := appendLogs(t, j, small)
	require.NoError(t, j.Close(context.Background()))

	stored := s.kv[entryKey(seqBig)]
	require.True(t, bytes.HasPrefix(stored, s2Magic), "compressed")
	assert.Less(t, len(stored), len(rawProto(t, big))/3, "records that repeat their fields shrink")
	assert.Equal(t, rawProto(t, small), s.kv[entryKey(seqSmall)], "a small call is stored as it is")

	j2 := open(t, s, zap.NewNop(), siem)
	j2.Replay()
	j2.Stop()
	assert.Equal(t, append(bigIDs, "small"), siem.got())
}

// Entries written before compression (bare protobuf, however large) are
// still read.
func TestUncompressedLargeEntriesFromEarlierVersionsAreRead(t *testing.T) {
	s := newStore()
	siem := newExporter(t, "siem")
	j := open(t, s, zap.NewNop(), siem)
	big, ids := bigCall("old", 400)
	seq := appendLogs(t, j, big)
	require.NoError(t, j.Close(context.Background()))
	s.kv[entryKey(seq)] = rawProto(t, big)

	j2 := open(t, s, zap.NewNop(), siem)
	j2.Replay()
	j2.Stop()
	assert.Equal(t, ids, siem.got())
}

// A compressed entry damaged on disk is reported and kept aside, its
// neighbours replayed; the decompressor neither panics nor allocates
// what a hostile length asks for, and an entry that decodes to no records
// (Append never writes one) counts as damaged.
func TestDamagedCompressedEntryIsKeptAside(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"flipped bytes": func(v []byte) []byte {
			v = bytes.Clone(v)
			for i := len(s2Magic) + 8; i < len(v); i += 7 {
				v[i] ^= 0x5a
			}
			return v
		},
		"truncated":    func(v []byte) []byte { return v[:len(v)/2] },
		"magic only":   func([]byte) []byte { return bytes.Clone(s2Magic) },
		"huge length":  func([]byte) []byte { return append(bytes.Clone(s2Magic), 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00) },
		"empty stream": func([]byte) []byte { return append(bytes.Clone(s2Magic), 0x00) },
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			siem := newExporter(t, "siem")
			j := open(t, s, zap.NewNop(), siem)
			appendLogs(t, j, logs("before"))
			big, _ := bigCall("damaged", 400)
			bad := appendLogs(t, j, big)
			appendLogs(t, j, logs("after"))
			require.NoError(t, j.Close(context.Background()))
			s.kv[entryKey(bad)] = damage(s.kv[entryKey(bad)])

			core, logs := observer.New(zapcore.InfoLevel)
			j2 := open(t, s, zap.New(core), siem)
			j2.Replay()
			j2.Stop()
			assert.Equal(t, []string{"before", "after"}, siem.got())
			assert.Equal(t, 1, logs.FilterMessageSnippet("Journal entry unreadable").Len())
		})
	}
}

// A damaged length field does not make the journal allocate what it says.
func TestHugeDeclaredLengthAllocatesNothing(t *testing.T) {
	value := append(bytes.Clone(s2Magic), 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := decodeEntry(value)
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "declares 4294967295 bytes")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20))
}
