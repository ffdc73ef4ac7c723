package archive

import (
	"crypto/ed25519"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Head is the content of the head file: the seq and hash of the last line
// the writer made durable. A hash chain alone cannot show that lines were cut
// from its end; comparing the archive's last line with the head can.
type Head struct {
	Seq     uint64    `json:"seq"`
	Hash    string    `json:"hash"`
	File    string    `json:"file"`
	Written time.Time `json:"written"`
	// HMAC is HMAC-SHA256(key, "auditfile head <seq> <hash>") in hex, when
	// the archive is keyed.
	HMAC string `json:"hmac,omitempty"`
	// Checkpoint is the token of the newest checkpoint written, when the
	// archive is signed: cutting lines from the end and rewriting seq and
	// hash cannot take the signed checkpoint back.
	Checkpoint string `json:"checkpoint,omitempty"`
	// KeyID and Sig sign the head when the archive is signed (every
	// update): without the key, the head cannot be rewritten to match an
	// archive whose end was cut. Only an old copy of the head could.
	KeyID string `json:"key_id,omitempty"`
	Sig   string `json:"sig,omitempty"`
}

// signedHead is what a head's signature covers.
func signedHead(h Head) []byte {
	return fmt.Appendf(nil, "otelcol-audit archive head v1\nseq=%d\nhash=%s\nfile=%s\nwritten=%s\ncheckpoint=%s\nkey_id=%s\n",
		h.Seq, h.Hash, h.File, h.Written.UTC().Format(TimeLayout), h.Checkpoint, h.KeyID)
}

// signHead sets h's KeyID and Sig.
func (s *Signer) signHead(h *Head) {
	h.KeyID = s.id
	h.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.key, signedHead(*h)))
}

// CheckHead verifies a head's signature.
func (k Keyring) CheckHead(h Head) error {
	if h.Sig == "" {
		return errors.New("the head is not signed")
	}
	pub, ok := k[h.KeyID]
	if !ok {
		return fmt.Errorf("the head is signed with key %s, which no given public key matches", h.KeyID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(h.Sig)
	if err != nil || !ed25519.Verify(pub, signedHead(h), sig) {
		return errors.New("the head's signature does not verify: the head was rewritten without the key")
	}
	return nil
}

// ReadHead reads a head file. A missing file gives an error matching
// fs.ErrNotExist.
func ReadHead(path string) (Head, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Head{}, err
	}
	var h Head
	if err := json.Unmarshal(data, &h); err != nil {
		return Head{}, fmt.Errorf("head %s: %w", path, err)
	}
	if len(h.Hash) != hexLen {
		return Head{}, fmt.Errorf("head %s: hash is not 64 hex digits", path)
	}
	if _, err := hex.DecodeString(h.Hash); err != nil {
		return Head{}, fmt.Errorf("head %s: hash: %w", path, err)
	}
	return h, nil
}

// checkHeadMAC reports whether h carries the right HMAC for key.
func checkHeadMAC(h Head, key []byte) bool {
	want := newSealer(key).headMAC(h.Seq, h.Hash)
	got, err := hex.DecodeString(h.HMAC)
	return err == nil && hmac.Equal(got, want)
}

// writeHead replaces the head file atomically (temp file + rename): readers
// see the old head or the new one, never a mix. The new head is fsynced
// before the rename, and the directory after the rename that creates the
// head, so whatever a power loss leaves is a complete head: the first one
// at least, and never one ahead of the lines (every caller writes the
// head after the lines it names are synced). Without both, the simulated
// power cuts of the e2e suite (lossyfs) left the head missing or empty,
// and the writer's restart recorded a head-unreadable alarm in a
// complete archive. Later renames need no directory sync: the entry names
// the old head or the new one, both synced.
func writeHead(path string, h Head, s *sealer, mode fs.FileMode) error {
	if s.mac != nil {
		h.HMAC = hex.EncodeToString(s.headMAC(h.Seq, h.Hash))
	}
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	_, statErr := os.Lstat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if created {
		return syncDir(filepath.Dir(path))
	}
	return nil
}
