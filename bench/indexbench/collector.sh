#!/bin/sh
# collector.sh ARCHIVE: starts the built collector (shipped collector.yaml)
# with its auditviewer over ARCHIVE (a genarchive archive, its index kept
# beside it), times the first answer over HTTP, runs a few queries and
# prints the collector's resident memory. Run from the repository's root
# after `make build`; uses ports 18088-18090 and 13999 on 127.0.0.1.
#
#   bench/indexbench/collector.sh _build/archive-10m/audit.jsonl
set -eu
archive=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/overlay.yaml" <<YAML
extensions:
  health_check:
    endpoint: 127.0.0.1:13999
  file_storage/queue:
    directory: $tmp/queue
  auditviewer:
    endpoint: 127.0.0.1:18089
    path: $archive
receivers:
  auditwebhook:
    endpoint: 127.0.0.1:18090
exporters:
  auditfile:
    path: $tmp/own/audit.jsonl
service:
  telemetry:
    metrics:
      level: none
YAML
mkdir -p "$tmp/queue" "$tmp/own"
VIEWER_PASSWORD=bench SIEM_ENDPOINT=127.0.0.1:18088 _build/otelcol-audit --config collector.yaml --config "$tmp/overlay.yaml" > "$tmp/collector.log" 2>&1 &
pid=$!
start=$(date +%s.%N)
until curl -sf -u auditor:bench -o /dev/null "http://127.0.0.1:18089/api/events?limit=50"; do sleep 0.05; done
end=$(date +%s.%N)
echo "first answer after start: $(echo "$end - $start" | bc) s"
newest=$(curl -s -u auditor:bench "http://127.0.0.1:18089/api/events?limit=1" | sed -n 's/.*"time":"\([^"]*\)".*/\1/p' | head -1)
day=$(date -u -d "$newest - 1 day" +%Y-%m-%dT%H:%M:%SZ)
for q in "source=sippy&action=AUTH_FAIL,MFA_FAIL&since=$day" "source=glassix&action=Login" "text=recording" "page=last" "page=200"; do
  curl -s -u auditor:bench -o /dev/null -w "$q: %{time_total}s\n" "http://127.0.0.1:18089/api/events?$q"
done
curl -s -u auditor:bench "http://127.0.0.1:18089/api/status"; echo
grep -E 'VmHWM|VmRSS' /proc/$pid/status
kill $pid
wait $pid || true
