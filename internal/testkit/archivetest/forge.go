package archivetest

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Forger is the adversary of the integrity tests: someone with write
// access to the archive's directory who rewrites it the way the
// documented format allows (SHA-256 over the line up to `,"hash":"`, prev
// chaining, the head file), and who may also hold the signing key. It is
// written from the format's documentation alone, on purpose without the
// archive package: what it forges, anyone could.
type Forger struct {
	Dir  string // the archive's directory
	Base string // the active file's name, e.g. audit.jsonl
	// Key, when set, re-signs every checkpoint (a stolen key). Without it
	// checkpoints keep their old signature, which no longer matches.
	Key ed25519.PrivateKey
}

// ForgedLine is one line as the forger sees it.
type ForgedLine struct {
	File string // file name
	Text string // the line, without newline
}

var (
	seqRE  = regexp.MustCompile(`^\{"seq":(\d+),"prev":"([0-9a-f]{64})",`)
	hashRE = regexp.MustCompile(`,"hash":"[0-9a-f]{64}"(,"hmac":"[0-9a-f]{64}")?\}$`)
	tokRE  = regexp.MustCompile(`ckpt1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)`)
)

// Files lists the archive's data files oldest first.
func (f *Forger) Files() []string {
	ext := filepath.Ext(f.Base)
	stem := strings.TrimSuffix(f.Base, ext)
	matches, _ := filepath.Glob(filepath.Join(f.Dir, stem+"-*"+ext+"*"))
	var out []string
	for _, m := range matches {
		if strings.HasSuffix(m, ext) || strings.HasSuffix(m, ext+".gz") {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	if _, err := os.Stat(filepath.Join(f.Dir, f.Base)); err == nil {
		out = append(out, filepath.Join(f.Dir, f.Base))
	}
	return out
}

// Lines reads every line of every file.
func (f *Forger) Lines() ([]ForgedLine, error) {
	var out []ForgedLine
	for _, p := range f.Files() {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(zr); err != nil {
				return nil, err
			}
			data = buf.Bytes()
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" {
				out = append(out, ForgedLine{File: filepath.Base(p), Text: l})
			}
		}
	}
	return out, nil
}

// Rewrite writes lines back: each line's prev becomes the hash of the line
// before it (the first keeps its prev), its hash is recomputed (an HMAC is
// dropped: the forger has no HMAC key), every checkpoint is made to sign
// the rewritten line before it and chained to the rewritten previous
// checkpoint (re-signed when Key is set), and the head file is rewritten
// to name the last line and checkpoint. Files keep their names (gzipped
// ones are gzipped again); a file with no lines left is removed.
func (f *Forger) Rewrite(lines []ForgedLine) error {
	byFile := map[string][]string{}
	var order []string
	prev, cpPrev, cpLast := "", strings.Repeat("0", 64), uint64(0)
	var lastSeq uint64
	lastTok := ""
	for _, l := range lines {
		m := seqRE.FindStringSubmatch(l.Text)
		if m == nil {
			return fmt.Errorf("not an archive line: %.60s", l.Text)
		}
		seq, _ := strconv.ParseUint(m[1], 10, 64)
		if prev == "" {
			prev = m[2]
		}
		body := strings.TrimPrefix(l.Text, m[0])
		loc := hashRE.FindStringIndex(body)
		if loc == nil {
			return fmt.Errorf("no hash at the end of: %.60s", l.Text)
		}
		body = body[:loc[0]]
		if tm := tokRE.FindStringSubmatch(body); tm != nil {
			tok, hash, err := f.resign(tm, seq, prev, cpPrev, cpLast)
			if err != nil {
				return err
			}
			body = strings.Replace(body, tm[0], tok, 1)
			cpPrev, cpLast, lastTok = hash, seq-1, tok
		}
		hashed := fmt.Sprintf(`{"seq":%d,"prev":"%s",%s`, seq, prev, body)
		sum := sha256.Sum256([]byte(hashed))
		h := hex.EncodeToString(sum[:])
		if _, ok := byFile[l.File]; !ok {
			order = append(order, l.File)
		}
		byFile[l.File] = append(byFile[l.File], hashed+`,"hash":"`+h+`"}`)
		prev, lastSeq = h, seq
	}
	for _, p := range f.Files() {
		if _, ok := byFile[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for _, name := range order {
		data := []byte(strings.Join(byFile[name], "\n") + "\n")
		if strings.HasSuffix(name, ".gz") {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			data = buf.Bytes()
		}
		if err := os.WriteFile(filepath.Join(f.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return f.writeHead(lastSeq, prev, lastTok)
}

// writeHead rewrites the head: signed with Key when set (the documented
// form), else keeping the old head's key_id and sig, which no longer match.
func (f *Forger) writeHead(seq uint64, hash, tok string) error {
	path := filepath.Join(f.Dir, f.Base+".head")
	var old struct {
		KeyID string `json:"key_id"`
		Sig   string `json:"sig"`
	}
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &old)
	}
	written := "2026-01-01T00:00:00.000000000Z"
	head := map[string]any{"seq": seq, "hash": hash, "file": f.Base, "written": written}
	if tok != "" {
		head["checkpoint"] = tok
	}
	if f.Key != nil {
		pub := f.Key.Public().(ed25519.PublicKey)
		sum := sha256.Sum256(pub)
		old.KeyID = hex.EncodeToString(sum[:])[:16]
		msg := fmt.Sprintf("otelcol-audit archive head v1\nseq=%d\nhash=%s\nfile=%s\nwritten=%s\ncheckpoint=%s\nkey_id=%s\n", seq, hash, f.Base, written, tok, old.KeyID)
		old.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(f.Key, []byte(msg)))
	}
	if old.Sig != "" {
		head["key_id"], head["sig"] = old.KeyID, old.Sig
	}
	data, _ := json.Marshal(head)
	return os.WriteFile(path, append(data, '\n'), 0o600)
}

// resign rewrites a checkpoint token so that it signs the line before it
// (hash prev, seq-1) and follows the checkpoint with hash cpPrev.
func (f *Forger) resign(tm []string, seq uint64, prev, cpPrev string, cpLast uint64) (tok, hash string, err error) {
	enc := base64.RawURLEncoding
	canonical, err := enc.DecodeString(tm[1])
	if err != nil {
		return "", "", err
	}
	var c struct {
		V        int    `json:"v"`
		File     string `json:"file"`
		FirstSeq uint64 `json:"first_seq"`
		LastSeq  uint64 `json:"last_seq"`
		Head     string `json:"head"`
		Prev     string `json:"prev"`
		Time     string `json:"time"`
		KeyID    string `json:"key_id"`
	}
	if err := json.Unmarshal(canonical, &c); err != nil {
		return "", "", err
	}
	c.FirstSeq, c.LastSeq, c.Head, c.Prev = cpLast+1, seq-1, prev, cpPrev
	sig := tm[2]
	if f.Key != nil {
		pub := f.Key.Public().(ed25519.PublicKey)
		sum := sha256.Sum256(pub)
		c.KeyID = hex.EncodeToString(sum[:])[:16]
	}
	canonical, _ = json.Marshal(c)
	if f.Key != nil {
		sig = enc.EncodeToString(ed25519.Sign(f.Key, append([]byte("otelcol-audit archive checkpoint v1\n"), canonical...)))
	}
	sum := sha256.Sum256(canonical)
	return "ckpt1." + enc.EncodeToString(canonical) + "." + sig, hex.EncodeToString(sum[:]), nil
}
