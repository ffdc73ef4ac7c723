package loadid

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scanAll(s Scheme, text string) []uint64 {
	var got []uint64
	s.Scan([]byte(text), func(seq uint64) { got = append(got, seq) })
	return got
}

func TestIDLooksLikeAGlassixUUID(t *testing.T) {
	s := NewScheme(0xdeadbeef)
	assert.Equal(t, "deadbeef-be9c-4000-8000-00000000002a", s.String(42))
	assert.Equal(t, "deadbeef-be9c-4000-8000-ffffffffffff", s.String(MaxSeq))
}

func TestScan(t *testing.T) {
	s := NewScheme(1)
	other := NewScheme(2)
	tests := []struct {
		name string
		text string
		want []uint64
	}{
		{"none", "no ids here", nil},
		{"one in syslog structured data", `<134>1 - - - - [data id="` + s.String(7) + `"] msg`, []uint64{7}},
		{"repeats are all reported", s.String(3) + " " + s.String(3), []uint64{3, 3}},
		{"ids in a list", s.String(1) + "," + s.String(2), []uint64{1, 2}},
		{"another run's id is ignored", other.String(5) + " " + s.String(6), []uint64{6}},
		{"truncated at the end", s.String(9)[:30], nil},
		{"longer hex run is another token", s.String(4) + "f", nil},
		{"upper case is not ours", "00000001-BE9C-4000-8000-000000000001", nil},
		{"JSON-escaped context", `{"body":"{\"id\":\"` + s.String(11) + `\"}"}`, []uint64{11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, scanAll(s, tt.text))
		})
	}
}

func TestSetCountsDistinctAndDuplicates(t *testing.T) {
	var s Set
	assert.True(t, s.Add(5))
	assert.False(t, s.Add(5))
	assert.True(t, s.Add(100_000)) // grows
	assert.True(t, s.Contains(100_000))
	assert.False(t, s.Contains(99_999))
	assert.False(t, s.Contains(1<<40)) // beyond the bitmap
	assert.Equal(t, uint64(2), s.Len())
	assert.Equal(t, uint64(1), s.Duplicates())
}

func TestAddAllCountsRepeatsInOneGroupOnce(t *testing.T) {
	var s Set
	// One message naming event 1 in MSGID, SD and text: one event.
	s.AddAll([]uint64{1, 2, 1, 1})
	assert.Equal(t, uint64(2), s.Len())
	assert.Equal(t, uint64(0), s.Duplicates())
	// The same event in a later message is a duplicate delivery.
	s.AddAll([]uint64{2, 3})
	assert.Equal(t, uint64(3), s.Len())
	assert.Equal(t, uint64(1), s.Duplicates())
	s.AddAll(nil)
	assert.Equal(t, uint64(3), s.Len())
}

func TestAddRangeAddsEveryMemberAndCountsRepeats(t *testing.T) {
	var s Set
	s.AddRange(10, 5) // 10..14
	for seq := uint64(10); seq < 15; seq++ {
		assert.True(t, s.Contains(seq), "%d", seq)
	}
	assert.False(t, s.Contains(9))
	assert.False(t, s.Contains(15))
	assert.Equal(t, uint64(5), s.Len())
	s.AddRange(14, 2) // 14 again, 15 new
	assert.Equal(t, uint64(6), s.Len())
	assert.Equal(t, uint64(1), s.Duplicates())
	s.AddRange(100, 0)
	assert.Equal(t, uint64(6), s.Len())
}

func TestMissing(t *testing.T) {
	var want, got Set
	for seq := range uint64(200) {
		want.Add(seq)
		if seq%10 != 0 {
			got.Add(seq)
		}
	}
	got.Add(5000) // delivered but never acked: not "missing"
	assert.Equal(t, uint64(20), got.Missing(&want))
	assert.Equal(t, uint64(0), want.Missing(&want))

	var empty Set
	assert.Equal(t, uint64(200), empty.Missing(&want))
	require.Equal(t, uint64(0), want.Missing(&empty))
}
