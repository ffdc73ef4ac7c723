package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/testkit/archivetest"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return priv
}

func ring(keys ...ed25519.PrivateKey) Keyring {
	k := Keyring{}
	for _, p := range keys {
		k.Add(p.Public().(ed25519.PublicKey))
	}
	return k
}

// signedArchive writes 80 events in batches of 5 into files of about 8 KiB
// with a checkpoint every 12 lines; got collects what OnCheckpoint saw.
func signedArchive(t *testing.T, key ed25519.PrivateKey, compress bool) (dir string, got *[]string) {
	t.Helper()
	dir = t.TempDir()
	var toks []string
	w := openTestWriter(t, dir, WriterOptions{MaxSize: 8 << 10, Compress: compress, Signer: NewSigner(key), CheckpointLines: 12,
		OnCheckpoint: func(_ Checkpoint, tok string) { toks = append(toks, tok) }})
	writeEvents(t, w, 1, 80, 5)
	if compress {
		allCompressed(t, dir)
	}
	require.NoError(t, w.Close())
	return dir, &toks
}

func verifySigned(t *testing.T, dir string, opts VerifyOptions) *Report {
	t.Helper()
	r, err := Verify(filepath.Join(dir, "audit.jsonl"), opts)
	require.NoError(t, err)
	return r
}

func TestCheckpointsAreWrittenSignedAndVerify(t *testing.T) {
	key := newKey(t)
	dir, toks := signedArchive(t, key, false)
	r := verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.True(t, r.SignaturesChecked)
	assert.Equal(t, len(*toks), r.Checkpoints)
	assert.Equal(t, []string{NewSigner(key).KeyID()}, r.KeyIDs)
	// Close wrote a last checkpoint: nothing is left uncovered.
	assert.Equal(t, 0, r.UncoveredLines)
	assert.Equal(t, r.LastSeq-1, r.CoveredSeq)

	// Each rotated file ends in the checkpoint that names it.
	files, err := LayoutFor(filepath.Join(dir, "audit.jsonl")).Files()
	require.NoError(t, err)
	require.Greater(t, len(files), 2)
	for _, f := range files[:len(files)-1] {
		lines := fileLines(t, f.Path)
		ev, err := DecodeEvent([]byte(lines[len(lines)-1]))
		require.NoError(t, err)
		require.Equal(t, MarkerCheckpoint, ev.Marker, f.Name)
		c, _, err := checkpointFromDetail(ev.Detail)
		require.NoError(t, err)
		assert.Equal(t, f.Name, c.File)
	}
	// The head names the last checkpoint.
	h, err := ReadHead(filepath.Join(dir, "audit.jsonl.head"))
	require.NoError(t, err)
	assert.Equal(t, (*toks)[len(*toks)-1], h.Checkpoint)

	// Without a key the chain is checked and the report says what that
	// cannot show.
	r = verifySigned(t, dir, VerifyOptions{})
	require.True(t, r.Intact())
	assert.Contains(t, strings.Join(r.Notes, "\n"), "not checked: without -pubkey only the hash chain is checked")
}

func TestCheckpointTokenIsStrict(t *testing.T) {
	s := NewSigner(newKey(t))
	c := Checkpoint{File: "audit.jsonl", FirstSeq: 1, LastSeq: 9, Head: strings.Repeat("a", 64), Prev: GenesisPrev, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	s.Sign(&c)
	got, err := ParseToken(c.Token())
	require.NoError(t, err)
	require.NoError(t, ring(s.key).Check(&got))
	assert.Equal(t, c.Hash(), got.Hash())
	assert.Equal(t, []string{c.Token()}, FindTokens([]byte(`<134>1 2026-01-02T03:04:05Z host otelcol-audit - archive.checkpoint [data x="1"] archive.checkpoint: `+c.Token())))

	got.LastSeq = 10
	assert.ErrorContains(t, ring(s.key).Check(&got), "does not verify")
	_, err = ParseToken(TokenPrefix + "eyJ2IjoxfQ.AAAA")
	assert.Error(t, err)
	assert.ErrorContains(t, Keyring{}.Check(&c), "which no given public key matches")
}

// TestSignedVerifyFindsTampering: each tamper someone with write access
// (and without the key) can do, in a rotated and gzipped archive.
func TestSignedVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string, f *archivetest.Forger)
		kind   ProblemKind
		msg    string
	}{
		{"line changed, every hash and the head recomputed", func(t *testing.T, _ string, f *archivetest.Forger) {
			lines, err := f.Lines()
			require.NoError(t, err)
			lines[20].Text = strings.Replace(lines[20].Text, "removed by admin", "removed by nobody", 1)
			require.NoError(t, f.Rewrite(lines))
		}, KindSignature, "does not verify"},
		{"last lines cut and the head rewritten to match", func(t *testing.T, _ string, f *archivetest.Forger) {
			lines, err := f.Lines()
			require.NoError(t, err)
			require.NoError(t, f.Rewrite(lines[:len(lines)-4]))
		}, KindHead, "the head's signature does not verify"},
		{"last lines cut, head seq and hash rewritten", func(t *testing.T, dir string, _ *archivetest.Forger) {
			active := filepath.Join(dir, "audit.jsonl")
			lines := fileLines(t, active)
			cut := lines[:len(lines)-3]
			writeData(t, active, []byte(strings.Join(cut, "\n")+"\n"))
			h, err := ReadHead(active + ".head")
			require.NoError(t, err)
			s, err := parseSeal([]byte(cut[len(cut)-1]))
			require.NoError(t, err)
			h.Seq, h.Hash = s.Seq, s.HashHex()
			require.NoError(t, writeHead(active+".head", h, newSealer(nil), 0o600))
		}, KindTruncated, "the head's signed checkpoint"},
		{"head deleted", func(t *testing.T, dir string, _ *archivetest.Forger) {
			require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))
		}, KindHead, "no head file"},
		{"rotated file deleted", func(t *testing.T, _ string, f *archivetest.Forger) {
			require.NoError(t, os.Remove(f.Files()[1]))
		}, KindMissingFile, "missing between the files"},
		{"two lines swapped", func(t *testing.T, dir string, _ *archivetest.Forger) {
			active := filepath.Join(dir, "audit.jsonl")
			lines := fileLines(t, active)
			lines[1], lines[2] = lines[2], lines[1]
			writeData(t, active, []byte(strings.Join(lines, "\n")+"\n"))
		}, KindReordered, "reordered"},
		{"rotated file replaced by a re-hashed copy with a line removed", func(t *testing.T, _ string, f *archivetest.Forger) {
			lines, err := f.Lines()
			require.NoError(t, err)
			var kept []archivetest.ForgedLine
			for i, l := range lines {
				if i != 3 {
					kept = append(kept, l)
				}
			}
			require.NoError(t, f.Rewrite(kept))
		}, KindSignature, "does not verify"},
		{"checkpoint line removed", func(t *testing.T, _ string, f *archivetest.Forger) {
			lines, err := f.Lines()
			require.NoError(t, err)
			var kept []archivetest.ForgedLine
			removed := false
			for _, l := range lines {
				if !removed && strings.Contains(l.Text, `"marker":"checkpoint"`) {
					removed = true
					continue
				}
				kept = append(kept, l)
			}
			require.NoError(t, f.Rewrite(kept))
		}, KindSignature, "does not verify"},
	}
	for _, compress := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if compress {
				name += " (gzipped)"
			}
			t.Run(name, func(t *testing.T) {
				key := newKey(t)
				dir, _ := signedArchive(t, key, compress)
				tt.tamper(t, dir, &archivetest.Forger{Dir: dir, Base: "audit.jsonl"})
				r := verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
				require.False(t, r.Intact(), "not detected")
				var found bool
				for _, p := range r.Problems {
					if p.Kind == tt.kind && strings.Contains(p.Message, tt.msg) {
						found = true
					}
				}
				assert.True(t, found, "want %s %q among %v", tt.kind, tt.msg, r.Problems)
			})
		}
	}
}

// TestStolenKeyIsCaughtByAnchors: with the private key the adversary
// re-signs a rewritten history, which verifies on its own; the
// checkpoints the SIEM received contradict it.
func TestStolenKeyIsCaughtByAnchors(t *testing.T) {
	key := newKey(t)
	dir, toks := signedArchive(t, key, true)
	siem := filepath.Join(t.TempDir(), "siem.log")
	var b strings.Builder
	for _, tok := range *toks {
		b.WriteString("2026-12-06T12:00:00+00:00 host otelcol-audit - archive.checkpoint: " + tok + "\n")
		b.WriteString("2026-12-06T12:00:00+00:00 host glassix - RoleRemoved: unrelated message\n")
	}
	require.NoError(t, os.WriteFile(siem, []byte(b.String()), 0o600))
	anchors, err := ReadAnchors(siem)
	require.NoError(t, err)
	require.Len(t, anchors, len(*toks))

	r := verifySigned(t, dir, VerifyOptions{Keys: ring(key), Anchors: anchors})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.Equal(t, len(*toks), r.AnchorsMatched)

	f := &archivetest.Forger{Dir: dir, Base: "audit.jsonl", Key: key}
	lines, err := f.Lines()
	require.NoError(t, err)
	lines[30].Text = strings.Replace(lines[30].Text, "removed by admin", "removed by nobody", 1)
	require.NoError(t, f.Rewrite(lines))

	r = verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.True(t, r.Intact(), "the re-signed history verifies without anchors: %v", r.Problems)
	r = verifySigned(t, dir, VerifyOptions{Keys: ring(key), Anchors: anchors})
	require.False(t, r.Intact())
	assert.Equal(t, KindAnchor, r.Problems[0].Kind)
	assert.Contains(t, r.Problems[0].Message, "the archive was rewritten")
	assert.Equal(t, siem, r.Problems[0].File)

	// Cutting the tail (with the head rewritten) leaves anchors the
	// archive lacks.
	lines, err = f.Lines()
	require.NoError(t, err)
	require.NoError(t, f.Rewrite(lines[:len(lines)-15]))
	r = verifySigned(t, dir, VerifyOptions{Keys: ring(key), Anchors: anchors})
	var cut bool
	for _, p := range r.Problems {
		cut = cut || strings.Contains(p.Message, "lines were cut from its end")
	}
	assert.True(t, cut, "%v", r.Problems)
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, newK := newKey(t), newKey(t)
	w := openTestWriter(t, dir, WriterOptions{Signer: NewSigner(oldKey), CheckpointLines: 10})
	writeEvents(t, w, 1, 30, 5)
	require.NoError(t, w.Close())
	w = openTestWriter(t, dir, WriterOptions{Signer: NewSigner(newK), CheckpointLines: 10})
	writeEvents(t, w, 31, 30, 5)
	require.NoError(t, w.Close())

	r := verifySigned(t, dir, VerifyOptions{Keys: ring(oldKey, newK)})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.Len(t, r.KeyIDs, 2)

	r = verifySigned(t, dir, VerifyOptions{Keys: ring(newK)})
	require.False(t, r.Intact())
	assert.Equal(t, KindSignature, r.Problems[0].Kind)
	assert.Contains(t, r.Problems[0].Message, "which no given public key matches")
}

func TestUncoveredTailIsReported(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	w := openTestWriter(t, dir, WriterOptions{Signer: NewSigner(key), CheckpointLines: 10, CheckpointInterval: time.Hour})
	writeEvents(t, w, 1, 23, 1)
	// Not closed: what a crash leaves. Lines 1-10 are covered by the
	// checkpoint at 11, 12-21 by the one at 22; 23 to 25 are not.
	r := verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.Equal(t, uint64(21), r.CoveredSeq)
	assert.Equal(t, 3, r.UncoveredLines)
	assert.Contains(t, strings.Join(r.Notes, "\n"), "the last 3 lines after the checkpoint at audit.jsonl:22 (covering up to seq 21) are not yet covered")

	// The next writer continues the checkpoint chain.
	require.NoError(t, w.Close())
	w = openTestWriter(t, dir, WriterOptions{Signer: NewSigner(key), CheckpointLines: 10})
	require.NotEmpty(t, w.LastCheckpoint())
	writeEvents(t, w, 24, 12, 4)
	require.NoError(t, w.Close())
	r = verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.Equal(t, 0, r.UncoveredLines)
}

func TestGenerateAndLoadKeys(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "keys", "archive-signing.key")
	k, created, err := LoadOrCreatePrivateKey(priv, true)
	require.NoError(t, err)
	require.True(t, created)
	st, err := os.Stat(priv)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub, err := LoadPublicKey(filepath.Join(dir, "keys", "archive-signing.pub"))
	require.NoError(t, err)
	assert.Equal(t, k.Public(), pub)

	again, created, err := LoadOrCreatePrivateKey(priv, true)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, k, again)

	_, err = LoadPublicKey(priv)
	assert.ErrorContains(t, err, "give the .pub file")
	require.NoError(t, os.Chmod(priv, 0o644))
	_, err = LoadPrivateKey(priv)
	assert.ErrorContains(t, err, "chmod 600")
	_, _, err = LoadOrCreatePrivateKey(filepath.Join(dir, "none.key"), false)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestVerifyDirectoryWithoutHeadIsBrokenNotMissing(t *testing.T) {
	dir := t.TempDir()
	w := openTestWriter(t, dir, WriterOptions{})
	writeEvents(t, w, 1, 5, 5)
	require.NoError(t, w.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))
	r, err := Verify(dir, VerifyOptions{})
	require.NoError(t, err)
	require.False(t, r.Intact())
	assert.Equal(t, KindHead, r.Problems[0].Kind)
}

// TestNoCheckpointYet: a writer stopped (killed) before its first
// checkpoint leaves a signed head, which is enough; checkpoints and head
// stripped (the chain recomputed) is not.
func TestNoCheckpointYet(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	w := openTestWriter(t, dir, WriterOptions{Signer: NewSigner(key), CheckpointLines: 1000, CheckpointInterval: time.Hour})
	writeEvents(t, w, 1, 5, 5)
	r := verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.True(t, r.Intact(), "%v", r.Problems)
	assert.Contains(t, strings.Join(r.Notes, "\n"), "no checkpoint yet")
	assert.Equal(t, 5, r.UncoveredLines)
	require.NoError(t, w.Close())

	f := &archivetest.Forger{Dir: dir, Base: "audit.jsonl"}
	lines, err := f.Lines()
	require.NoError(t, err)
	require.NoError(t, f.Rewrite(lines[:3])) // the close checkpoint and two events gone
	require.NoError(t, os.Remove(filepath.Join(dir, "audit.jsonl.head")))
	r = verifySigned(t, dir, VerifyOptions{Keys: ring(key)})
	require.False(t, r.Intact())
	var kinds []ProblemKind
	for _, p := range r.Problems {
		kinds = append(kinds, p.Kind)
	}
	assert.Contains(t, kinds, KindSignature)
	assert.Contains(t, kinds, KindHead)
}
