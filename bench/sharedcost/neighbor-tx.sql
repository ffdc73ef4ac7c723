-- One transaction of the neighbor load (bench/sharedcost/run.sh): the
-- database work of one 100-event request with the shared index and
-- dedup::shared on: a lookup of 100 keys, their insert, 100 index rows.
\set b random(1, 9000000000000)
SELECT key FROM nb.dedup WHERE key = ANY(ARRAY(SELECT sha256(int8send(:b::bigint * 1000 + g)) FROM generate_series(1,100) g)) AND seen_at > now() - interval '96 hours';
INSERT INTO nb.dedup (key, seen_at) SELECT sha256(int8send(:b::bigint * 1000 + g)), now() FROM generate_series(1,100) g ON CONFLICT (key) DO UPDATE SET seen_at = EXCLUDED.seen_at;
INSERT INTO nb.lines (file_id, line, ts, seq, sub, off, size, fp, source_id, action_id, actor_id, address_id, resource, message, sev, status, kind, flags) SELECT 1, g, (extract(epoch from clock_timestamp())*1e9)::bigint + g, :b::bigint * 1000 + g, 0, g * 1200, 1200, :b::bigint + g, 1 + g % 3, g % 7, g % 50, g % 20, 'resource-' || g, 'message text for the event number ' || g, 3, 0, 0, 0 FROM generate_series(1,100) g;
