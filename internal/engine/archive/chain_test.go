package archive

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's recipe, followed with nothing but SHA-256 and HMAC: a line's
// hash is SHA-256 of its bytes before `,"hash":"`, its prev is the hash of
// the line before (64 zeros for seq 1), and its hmac is HMAC-SHA256(key,
// raw hash).
func TestHashIsWhatTheREADMESays(t *testing.T) {
	key := []byte("a-secret-of-32-bytes-for-testing")
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{HMACKey: key})
	writeEvents(t, w, 1, 5, 2)
	// An attribute that looks like the chain fields changes nothing.
	ld := glassix(6, 1)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr("hash", `x","hash":"`+strings.Repeat("0", 64))
	require.NoError(t, w.Write(context.Background(), EncodeLogs(ld)))
	require.NoError(t, w.Close())

	prev := strings.Repeat("0", 64)
	lines := fileLines(t, filepath.Join(dir, "audit.jsonl"))
	require.Len(t, lines, 6)
	for i, line := range lines {
		var fields struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Hash string `json:"hash"`
			HMAC string `json:"hmac"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &fields))
		// The README's recipe: everything before the last `,"hash":"`.
		cut := strings.LastIndex(line, `,"hash":"`)
		require.Positive(t, cut)
		covered := line[:cut]
		sum := sha256.Sum256([]byte(covered))
		mac := hmac.New(sha256.New, key)
		mac.Write(sum[:])

		assert.Equal(t, uint64(i+1), fields.Seq)
		assert.Equal(t, prev, fields.Prev)
		assert.Equal(t, hex.EncodeToString(sum[:]), fields.Hash)
		assert.Equal(t, hex.EncodeToString(mac.Sum(nil)), fields.HMAC)
		assert.True(t, strings.HasSuffix(line, `","hmac":"`+fields.HMAC+`"}`), "hash and hmac must end the line")
		prev = fields.Hash
	}
}

func TestParseSealRejectsWhatTheWriterNeverWrites(t *testing.T) {
	good := string(mustSeal(t, 42, `"marker":"x","time":"2024-01-01T00:00:00.000000000Z","detail":{}`))
	require.NoError(t, func() error { _, err := parseSeal([]byte(good)); return err }())
	h := strings.Repeat("a", 64)
	tests := []struct {
		name string
		line string
	}{
		{"empty line", ""},
		{"not JSON", "hello world"},
		{"seq missing", `{"prev":"` + h + `","x":1,"hash":"` + h + `"}`},
		{"seq with a leading zero", strings.Replace(good, `"seq":42`, `"seq":042`, 1)},
		{"seq beyond 64 bits", strings.Replace(good, `"seq":42`, `"seq":99999999999999999999`, 1)},
		{"negative seq", strings.Replace(good, `"seq":42`, `"seq":-42`, 1)},
		{"prev in upper case", strings.Replace(good, `"prev":"`+GenesisPrev, `"prev":"`+strings.ToUpper(h), 1)},
		{"prev too short", strings.Replace(good, `"prev":"`+GenesisPrev, `"prev":"abc`, 1)},
		{"hash missing", good[:strings.Index(good, `,"hash":`)] + "}"},
		{"hash not hex", good[:len(good)-66] + strings.Repeat("z", 64) + `"}`},
		{"no body", `{"seq":1,"prev":"` + GenesisPrev + `",,"hash":"` + h + `"}`},
		{"cut mid-line", good[:len(good)/2]},
		{"extra bytes after the object", good + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSeal([]byte(tt.line))
			require.ErrorIs(t, err, errNotSealed)
		})
	}
}

func mustSeal(t *testing.T, seq uint64, body string) []byte {
	t.Helper()
	line, _ := newSealer(nil).seal(nil, seq, [32]byte{}, []byte(body))
	return line
}

// decodeHex's one-pass path agrees with the check-then-decode it replaces
// on every byte in every position: lower-case hex only, the first bad
// byte named, nothing decoded on error.
func TestDecodeHexParity(t *testing.T) {
	ref := func(dst, src []byte) error {
		for _, c := range src {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return fmt.Errorf("invalid hex character %q", c)
			}
		}
		_, err := hex.Decode(dst, src)
		return err
	}
	sum := sha256.Sum256([]byte("x"))
	good := []byte(hex.EncodeToString(sum[:]))
	for pos := range good {
		for c := 0; c < 256; c++ {
			src := append([]byte(nil), good...)
			src[pos] = byte(c)
			if pos > 0 && c == 'G' {
				src[0] = 'Z' // two bad bytes: the first is named
			}
			want, got := make([]byte, 32), make([]byte, 32)
			werr, gerr := ref(want, src), decodeHex(got, src)
			if werr != nil {
				require.EqualError(t, gerr, werr.Error(), "byte %q at %d", c, pos)
				require.Equal(t, make([]byte, 32), got)
				continue
			}
			require.NoError(t, gerr)
			require.Equal(t, want, got)
		}
	}
	// Other lengths take the reference path.
	require.Error(t, decodeHex(make([]byte, 32), good[:63]))
	require.NoError(t, decodeHex(make([]byte, 32), good[:62]))
}
