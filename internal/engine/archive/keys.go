package archive

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Key files are PEM, as OpenSSL writes Ed25519 keys: the private key as
// PKCS #8 ("PRIVATE KEY", mode 0600), the public key as PKIX ("PUBLIC
// KEY"). `openssl pkey -in archive-signing.key -pubout` gives the public
// half of a private key made elsewhere.

// PublicKeyPath is where the public half of the private key at path is
// written: the same name with .pub instead of .key (or .pub appended).
func PublicKeyPath(privPath string) string {
	return strings.TrimSuffix(privPath, ".key") + ".pub"
}

// GenerateKeyFiles makes a new key pair and writes it to privPath (0600)
// and pubPath. It never overwrites a file.
func GenerateKeyFiles(privPath, pubPath string) (ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{privPath, pubPath} {
		if err := ensureDir(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
	}
	if err := writeFileDurably(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return nil, fmt.Errorf("writing the private key: %w", err)
	}
	if err := writeFileDurably(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privPath)
		return nil, fmt.Errorf("writing the public key: %w", err)
	}
	return priv, nil
}

// LoadPrivateKey reads an Ed25519 private key file. A file that others
// than its owner may read is refused, as ssh refuses such keys.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("private key %s has mode %04o: others than its owner may read it; chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("private key %s: not a PEM \"PRIVATE KEY\" (PKCS #8) file", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key %s: a %T, want Ed25519", path, k)
	}
	return priv, nil
}

// LoadOrCreatePrivateKey loads the key at path; when the file does not
// exist and create is set, it makes a new pair there (public half at
// PublicKeyPath). created says which happened.
func LoadOrCreatePrivateKey(path string, create bool) (priv ed25519.PrivateKey, created bool, err error) {
	priv, err = LoadPrivateKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return priv, false, err
	}
	priv, err = GenerateKeyFiles(path, PublicKeyPath(path))
	return priv, err == nil, err
}

// LoadPublicKey reads an Ed25519 public key file (PEM "PUBLIC KEY").
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("public key %s: not a PEM file", path)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("public key %s: a PEM %q, want \"PUBLIC KEY\" (is this the private key? give the .pub file)", path, block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key %s: a %T, want Ed25519", path, k)
	}
	return pub, nil
}
