package archive

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
)

// GenesisPrev is the prev of the first line of a new archive (seq 1).
const GenesisPrev = "0000000000000000000000000000000000000000000000000000000000000000"

// The fixed parts of a line around its body (see the package comment):
//
//	{"seq":<n>,"prev":"<64 hex>",<body>,"hash":"<64 hex>"}
//	{"seq":<n>,"prev":"<64 hex>",<body>,"hash":"<64 hex>","hmac":"<64 hex>"}
const (
	seqOpen   = `{"seq":`
	prevOpen  = `,"prev":"`
	prevClose = `",`
	hashOpen  = `,"hash":"`
	hmacOpen  = `","hmac":"`
	lineClose = `"}`
	hexLen    = 2 * sha256.Size

	plainSealLen = len(hashOpen) + hexLen + len(lineClose)
	keyedSealLen = len(hashOpen) + hexLen + len(hmacOpen) + hexLen + len(lineClose)
)

// sealer appends the chain fields to line bodies. It is not safe for
// concurrent use.
type sealer struct {
	mac hash.Hash // nil when unkeyed
}

func newSealer(key []byte) *sealer {
	s := &sealer{}
	if len(key) > 0 {
		s.mac = hmac.New(sha256.New, key)
	}
	return s
}

// seal appends the complete line for body (without the newline) to dst and
// returns it with the line's hash. Only this function decides what a line
// hashes: the bytes from '{' up to, not including, `,"hash":`.
func (s *sealer) seal(dst []byte, seq uint64, prev [sha256.Size]byte, body []byte) ([]byte, [sha256.Size]byte) {
	start := len(dst)
	dst = append(dst, seqOpen...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, prevOpen...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, prevClose...)
	dst = append(dst, body...)
	sum := sha256.Sum256(dst[start:])
	dst = append(dst, hashOpen...)
	dst = hex.AppendEncode(dst, sum[:])
	if s.mac != nil {
		dst = append(dst, hmacOpen...)
		dst = hex.AppendEncode(dst, s.lineMAC(sum))
	}
	dst = append(dst, lineClose...)
	return dst, sum
}

// lineMAC is HMAC-SHA256(key, the line's 32-byte hash).
func (s *sealer) lineMAC(sum [sha256.Size]byte) []byte {
	s.mac.Reset()
	s.mac.Write(sum[:])
	return s.mac.Sum(nil)
}

// headMAC is HMAC-SHA256(key, "auditfile head <seq> <hash hex>").
func (s *sealer) headMAC(seq uint64, hashHex string) []byte {
	s.mac.Reset()
	fmt.Fprintf(s.mac, "auditfile head %d %s", seq, hashHex)
	return s.mac.Sum(nil)
}

// Seal holds a line's chain fields, read from fixed positions of the raw
// line. These positions, not a JSON decoder, are authoritative: a decoder
// would accept duplicate keys.
type Seal struct {
	Seq    uint64
	Prev   [sha256.Size]byte
	Hash   [sha256.Size]byte
	HMAC   []byte // nil when the line carries none
	hashed []byte // the bytes the hash covers
	// bodyStart is the offset of the body (the fields after prev).
	bodyStart int
}

// PrevHex is Prev in hex, as the line spells it.
func (s Seal) PrevHex() string { return hex.EncodeToString(s.Prev[:]) }

// HashHex is Hash in hex, as the line spells it.
func (s Seal) HashHex() string { return hex.EncodeToString(s.Hash[:]) }

var errNotSealed = errors.New("not an archive line")

// parseSeal reads the chain fields of line (without its newline). It checks
// layout only, not the hash.
func parseSeal(line []byte) (Seal, error) {
	var s Seal
	rest, ok := bytes.CutPrefix(line, []byte(seqOpen))
	if !ok {
		return s, fmt.Errorf("%w: does not start with %s", errNotSealed, seqOpen)
	}
	i := 0
	for i < len(rest) && i < 20 && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	seq, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil || (i > 1 && rest[0] == '0') {
		return s, fmt.Errorf("%w: bad seq", errNotSealed)
	}
	s.Seq = seq
	rest, ok = bytes.CutPrefix(rest[i:], []byte(prevOpen))
	if !ok || len(rest) < hexLen+len(prevClose) || !bytes.HasPrefix(rest[hexLen:], []byte(prevClose)) {
		return s, fmt.Errorf("%w: bad prev", errNotSealed)
	}
	if err := decodeHex(s.Prev[:], rest[:hexLen]); err != nil {
		return s, fmt.Errorf("%w: bad prev: %v", errNotSealed, err)
	}
	bodyStart := len(line) - len(rest) + hexLen + len(prevClose)

	sealLen, keyed := plainSealLen, false
	if n := len(line) - keyedSealLen; n > bodyStart && bytes.HasPrefix(line[n:], []byte(hashOpen)) &&
		bytes.HasPrefix(line[n+len(hashOpen)+hexLen:], []byte(hmacOpen)) {
		sealLen, keyed = keyedSealLen, true
	}
	n := len(line) - sealLen
	if n <= bodyStart || !bytes.HasPrefix(line[n:], []byte(hashOpen)) || !bytes.HasSuffix(line, []byte(lineClose)) {
		return s, fmt.Errorf("%w: missing hash at the end", errNotSealed)
	}
	if err := decodeHex(s.Hash[:], line[n+len(hashOpen):n+len(hashOpen)+hexLen]); err != nil {
		return s, fmt.Errorf("%w: bad hash: %v", errNotSealed, err)
	}
	if keyed {
		at := n + len(hashOpen) + hexLen + len(hmacOpen)
		s.HMAC = make([]byte, sha256.Size)
		if err := decodeHex(s.HMAC, line[at:at+hexLen]); err != nil {
			return s, fmt.Errorf("%w: bad hmac: %v", errNotSealed, err)
		}
	}
	s.hashed = line[:n]
	s.bodyStart = bodyStart
	return s, nil
}

// hexValue is each lower-case hex digit's value, 0xff for any other byte.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// decodeHex accepts lower-case hex only, as the writer writes it, so a line
// has one spelling.
func decodeHex(dst, src []byte) error {
	if len(src) == 2*len(dst) {
		// One pass (every handed over and every read line has two or
		// three of these).
		for i := range dst {
			hi, lo := hexValue[src[2*i]], hexValue[src[2*i+1]]
			if hi|lo > 0x0f {
				c := src[2*i]
				if hi <= 0x0f {
					c = src[2*i+1]
				}
				clear(dst)
				return fmt.Errorf("invalid hex character %q", c)
			}
			dst[i] = hi<<4 | lo
		}
		return nil
	}
	for _, c := range src {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("invalid hex character %q", c)
		}
	}
	_, err := hex.Decode(dst, src)
	return err
}
