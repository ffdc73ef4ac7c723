#!/usr/bin/env bash
# Builds the contrib comparison distribution for the load harness:
# _build/otelcol-contrib-bench from bench/contrib/builder-config.yaml, with
# ocb v0.145.0 installed into .tools/. Does nothing when the binary is newer
# than the manifest. Run from anywhere; paths are relative to the repo root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH

OCB_VERSION=v0.145.0
OCB=.tools/ocb-$OCB_VERSION
MANIFEST=bench/contrib/builder-config.yaml
SRC=_build/contrib-bench-dist
BIN=_build/otelcol-contrib-bench

if [[ -x $BIN && $BIN -nt $MANIFEST ]]; then
	echo "$BIN is up to date"
	exit 0
fi

if [[ ! -x $OCB ]]; then
	# A private GOBIN: .tools/ may already hold another ocb as "builder".
	mkdir -p .tools
	tmp=$(mktemp -d .tools/ocb-install.XXXXXX)
	GOBIN=$(realpath "$tmp") go install go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION
	mv "$tmp/builder" "$OCB"
	rmdir "$tmp"
fi

# The checksum database has no entry for this module at v0.145.0; every
# other module is still verified.
export GONOSUMDB=github.com/open-telemetry/opentelemetry-collector-contrib/receiver/webhookeventreceiver

mkdir -p "$SRC"
"$OCB" --config "$MANIFEST" --skip-compilation
(cd "$SRC" && go build -trimpath -o ../otelcol-contrib-bench .)
echo "built $BIN"
