package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

var keygenCommand = command{
	name:    "keygen",
	summary: "write a new Ed25519 key pair for signing archive checkpoints",
	run:     runKeygen,
}

const keygenHelp = `Usage: auditctl keygen [flags] PRIVATE-KEY-FILE

Writes a new Ed25519 key pair for the auditfile exporter's signing:
the private key to PRIVATE-KEY-FILE (PEM PKCS #8, mode 0600) and the
public key beside it (the same name with .pub instead of .key, or -pub).
Existing files are never overwritten.

Put the private key where the exporter's signing::key_file points (key
rotation: point it at the new key and restart; checkpoints are signed with
the new key from then on). Copy the public key off the host: whoever checks
the archive needs only it (auditctl verify -pubkey FILE, one per key ever
used).

Flags:
`

func runKeygen(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("keygen", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(flags.Output(), keygenHelp)
		flags.PrintDefaults()
	}
	pubPath := flags.String("pub", "", "write the public key to `FILE` (default: the private key's name with .pub)")
	positional, code, ok := parseArgs(flags, args, stdout)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "auditctl keygen: want exactly one PRIVATE-KEY-FILE, got %d\n", len(positional))
		flags.Usage()
		return exitUsage
	}
	priv := positional[0]
	pub := *pubPath
	if pub == "" {
		pub = archive.PublicKeyPath(priv)
	}
	if pub == priv {
		fmt.Fprintln(stderr, "auditctl keygen: the public key would overwrite the private key: name it with -pub")
		return exitUsage
	}
	for _, p := range []string{priv, pub} {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "auditctl keygen: %s exists: keygen never overwrites a key\n", p)
			return exitUsage
		}
	}
	key, err := archive.GenerateKeyFiles(priv, pub)
	if err != nil {
		fmt.Fprintf(stderr, "auditctl keygen: %v\n", err)
		return exitUsage
	}
	signer := archive.NewSigner(key)
	fmt.Fprintf(stdout, "private key: %s (keep it on the collector's host, mode 0600)\n", priv)
	fmt.Fprintf(stdout, "public key:  %s (copy it off the host; auditctl verify -pubkey %s)\n", pub, pub)
	fmt.Fprintf(stdout, "key id:      %s\nfingerprint: SHA256:%s\n", signer.KeyID(), archive.Fingerprint(signer.Public()))
	return exitOK
}
