package archive

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// MarkerCheckpoint: a signed checkpoint. Detail: checkpoint, the token
// (see Checkpoint.Token).
const MarkerCheckpoint = "checkpoint"

// TokenPrefix starts every checkpoint token, in the archive, the head and
// the messages sent to the SIEM.
const TokenPrefix = "ckpt1."

// signContext is signed before the canonical bytes, so that a signature
// made for a checkpoint cannot be mistaken for one over anything else.
const signContext = "otelcol-audit archive checkpoint v1\n"

// Checkpoint is a signed statement about the archive: "line LastSeq has
// hash Head" (which, through the chain, commits to every line before it),
// made at Time with the key KeyID. Checkpoints chain: Prev is the hash of
// the previous checkpoint (GenesisPrev for the first).
//
// A checkpoint is written into the archive as the line right after LastSeq
// (a marker whose prev is therefore Head). It covers the lines FirstSeq
// through LastSeq: the lines since the previous checkpoint, that one's own
// line included.
type Checkpoint struct {
	File     string    // the data file the checkpoint line is written in, by its rotated name when it closes a file
	FirstSeq uint64    // first line covered since the previous checkpoint
	LastSeq  uint64    // last line covered
	Head     string    // hash of line LastSeq, hex
	Prev     string    // hash of the previous checkpoint (Hash), hex
	Time     time.Time // when it was made
	KeyID    string    // KeyID of the signing key
	Sig      []byte    // Ed25519 signature over signContext + Canonical()
}

// canonicalJSON is the signed form, with a fixed field order.
type canonicalJSON struct {
	V        int    `json:"v"`
	File     string `json:"file"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Head     string `json:"head"`
	Prev     string `json:"prev"`
	Time     string `json:"time"`
	KeyID    string `json:"key_id"`
}

// Canonical is the checkpoint's signed bytes: a JSON object with the fields
// v, file, first_seq, last_seq, head, prev, time (RFC 3339, UTC, 9
// fractional digits), key_id in that order, no spaces.
func (c *Checkpoint) Canonical() []byte {
	b, err := json.Marshal(canonicalJSON{V: 1, File: c.File, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq,
		Head: c.Head, Prev: c.Prev, Time: c.Time.UTC().Format(TimeLayout), KeyID: c.KeyID})
	if err != nil { // strings and numbers only
		panic(err)
	}
	return b
}

// Hash is SHA-256 of Canonical, hex: what the next checkpoint's Prev names.
func (c *Checkpoint) Hash() string {
	sum := sha256.Sum256(c.Canonical())
	return hex.EncodeToString(sum[:])
}

// Token is the checkpoint as one printable word, safe in JSON, syslog
// structured data and any log file: "ckpt1." base64url(Canonical) "."
// base64url(Sig), unpadded.
func (c *Checkpoint) Token() string {
	enc := base64.RawURLEncoding
	return TokenPrefix + enc.EncodeToString(c.Canonical()) + "." + enc.EncodeToString(c.Sig)
}

func signedMessage(canonical []byte) []byte {
	return append([]byte(signContext), canonical...)
}

// ParseToken reads a checkpoint token. It checks the form only (the
// canonical bytes must be exactly what Canonical writes), not the
// signature: see Keyring.Check.
func ParseToken(tok string) (Checkpoint, error) {
	rest, ok := bytes.CutPrefix([]byte(tok), []byte(TokenPrefix))
	if !ok {
		return Checkpoint{}, fmt.Errorf("not a checkpoint token (does not start with %q)", TokenPrefix)
	}
	body, sig, ok := bytes.Cut(rest, []byte("."))
	if !ok {
		return Checkpoint{}, errors.New("checkpoint token has no signature part")
	}
	enc := base64.RawURLEncoding
	canonical := make([]byte, enc.DecodedLen(len(body)))
	n, err := enc.Decode(canonical, body)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint token: %w", err)
	}
	canonical = canonical[:n]
	var cj canonicalJSON
	dec := json.NewDecoder(bytes.NewReader(canonical))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cj); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint token: %w", err)
	}
	if cj.V != 1 {
		return Checkpoint{}, fmt.Errorf("checkpoint token: version %d, want 1", cj.V)
	}
	t, err := time.Parse(TimeLayout, cj.Time)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint token: time: %w", err)
	}
	c := Checkpoint{File: cj.File, FirstSeq: cj.FirstSeq, LastSeq: cj.LastSeq, Head: cj.Head, Prev: cj.Prev, Time: t, KeyID: cj.KeyID}
	if !bytes.Equal(c.Canonical(), canonical) {
		return Checkpoint{}, errors.New("checkpoint token: not in canonical form")
	}
	if !isHex64(c.Head) || !isHex64(c.Prev) {
		return Checkpoint{}, errors.New("checkpoint token: head and prev must be 64 lower-case hex digits")
	}
	if c.Sig, err = enc.DecodeString(string(sig)); err != nil || len(c.Sig) != ed25519.SignatureSize {
		return Checkpoint{}, errors.New("checkpoint token: bad signature encoding")
	}
	return c, nil
}

func isHex64(s string) bool {
	if len(s) != hexLen {
		return false
	}
	return decodeHex(make([]byte, sha256.Size), []byte(s)) == nil
}

// tokenRE finds tokens in text (a SIEM's log line).
var tokenRE = regexp.MustCompile(regexp.QuoteMeta(TokenPrefix) + `[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// FindTokens returns the checkpoint tokens in a line of text, whatever its
// format around them (raw RFC 5424, rsyslog's file formats, JSON).
func FindTokens(line []byte) []string {
	var out []string
	for _, m := range tokenRE.FindAll(line, -1) {
		out = append(out, string(m))
	}
	return out
}

// Signer signs checkpoints with an Ed25519 private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// KeyID is the signer's key id.
func (s *Signer) KeyID() string { return s.id }

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign sets c's KeyID and Sig.
func (s *Signer) Sign(c *Checkpoint) {
	c.KeyID = s.id
	c.Sig = ed25519.Sign(s.key, signedMessage(c.Canonical()))
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string { return Fingerprint(pub)[:16] }

// Fingerprint is the SHA-256 of the public key's 32 bytes, hex.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// Keyring holds the public keys verification accepts, by key id. Several
// keys verify an archive signed before and after a key rotation.
type Keyring map[string]ed25519.PublicKey

// Add adds a public key.
func (k Keyring) Add(pub ed25519.PublicKey) { k[KeyID(pub)] = pub }

// Check verifies c's signature. It fails when the key is not in the ring.
func (k Keyring) Check(c *Checkpoint) error {
	pub, ok := k[c.KeyID]
	if !ok {
		return fmt.Errorf("signed with key %s, which no given public key matches (give it with -pubkey)", c.KeyID)
	}
	if !ed25519.Verify(pub, signedMessage(c.Canonical()), c.Sig) {
		return fmt.Errorf("the signature does not verify with key %s: the lines it covers were rewritten, or the checkpoint forged", c.KeyID)
	}
	return nil
}

// IDs lists the key ids, for messages.
func (k Keyring) IDs() []string {
	ids := make([]string, 0, len(k))
	for id := range k {
		ids = append(ids, id)
	}
	return ids
}

// checkpointFromDetail reads the token of a checkpoint marker.
func checkpointFromDetail(detail map[string]any) (Checkpoint, string, error) {
	tok, _ := detail["checkpoint"].(string)
	if tok == "" {
		return Checkpoint{}, "", errors.New("checkpoint marker without a token")
	}
	c, err := ParseToken(tok)
	return c, tok, err
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }
