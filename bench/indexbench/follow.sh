#!/bin/sh
# follow.sh: how far the viewer's index is behind the archive during a
# load-harness run. Run it beside the harness:
#
#   bench/indexbench/follow.sh _build/bench > follow.log &
#   go run ./bench/harness -targets otelcol-audit -events 100 -warmup 5s \
#     -duration 20s -audit-config viewer.yaml
#
# Every half second it prints the seconds since it started, the archive's
# newest sequence number (the last complete line of the active file: one
# per line the writer sealed), the lines the index has committed (read
# from its file with the sqlite3 shell, read-only: asking the viewer's
# /api/status would make it refresh, and the point is to see what the
# background refresh alone achieves), and the difference. It follows the
# newest audit.jsonl under the harness's workdir and stops 5 s after the
# collector removed it, or after 5 s in which neither it nor the index
# changed (the run is over: the harness stops the collector after the
# drain).
set -eu
workdir=${1:-_build/bench}
start=$(date +%s.%N)
since() { echo "$(date +%s.%N) - $start" | bc; }

archive=""
last=""
same=0
while :; do
	if [ -z "$archive" ]; then
		archive=$(find "$workdir" -name audit.jsonl -newermt "@${start%.*}" 2>/dev/null | head -1)
		[ -z "$archive" ] && { sleep 0.5; continue; }
	fi
	[ -f "$archive" ] || exit 0
	lines=$(sqlite3 "file:$archive.index?mode=ro" 'SELECT count(*) FROM lines' 2>/dev/null || echo 0)
	# The last complete line (the last one may be half written).
	seq=$(tail -c 65536 "$archive" | head -n -1 | tail -n 1 | sed -n 's/^{"seq":\([0-9]*\).*/\1/p')
	seq=${seq:-0}
	printf '%6.1f s  archive %8d  indexed %8d  behind %8d\n' "$(since)" "$seq" "$lines" "$((seq - lines))"
	if [ "$seq $lines" = "$last" ]; then
		same=$((same + 1))
		[ "$same" -ge 10 ] && exit 0
	else
		same=0
	fi
	last="$seq $lines"
	sleep 0.5
done
