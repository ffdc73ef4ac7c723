//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/auditquery"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/lossyfs"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// Power loss, simulated: the collector keeps its walstorage database (the
// journal and the dedup window) and its archive, with the viewer's index
// beside it, on a lossyfs mount (internal/testkit/lossyfs): a FUSE
// filesystem that holds every write in memory and keeps only what fsync
// made durable, directory entries only once their directory was synced.
// Under load the collector is killed with SIGKILL and the power is cut:
// the mount is replaced by what a power loss at that instant would have
// left on the disk, and the collector starts again on it. This machine's
// kernel has no device-mapper (dm-flakey, dm-log-writes); lossyfs is the
// equivalent, with the weakest guarantees POSIX gives (ext4 usually keeps
// more).

// powerLossCollector is a collector whose state lives on a lossy mount;
// walstorage holds more settings of the walstorage extension, indented
// under it.
func powerLossCollector(t *testing.T, siem *syslogtest.Server, walstorage string) (*collector, *lossyfs.FS) {
	t.Helper()
	disk, mnt := lossyfs.MountT(t)
	c := newCollector(t, collectorOptions{
		SIEM:       siem.Endpoint(),
		ArchiveDir: filepath.Join(mnt, "archive"),
		Extra:      fmt.Sprintf("extensions:\n  walstorage:\n    directory: %s\n", filepath.Join(mnt, "walstorage")) + walstorage,
	})
	return c, disk
}

// cutPower kills the collector and cuts the power under it.
func cutPower(t *testing.T, c *collector, disk *lossyfs.FS) {
	t.Helper()
	c.kill()
	st, err := disk.PowerCut()
	require.NoError(t, err)
	t.Logf("power cut: the disk kept %d files (%d bytes) in %d directories; %d bytes and %d names written since their last sync were lost",
		st.Files, st.KeptBytes, st.Dirs, st.LostBytes, st.LostNames)
}

// TestPowerLossLosesNothingAcknowledged: the shipped configuration under
// load, the SIEM up (events in flight everywhere) or down (the SIEM's
// share only in the journal), killed and its power cut; started again on
// what the disk kept, every acknowledged event reaches the SIEM and the
// archive, and the archive verifies. Duplicates are allowed (a retried
// request the collector had taken but not answered) and counted.
func TestPowerLossLosesNothingAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		siemDown bool
		// events per request; 20 makes each journal entry large enough
		// to be stored compressed.
		events             int
		interval, duration time.Duration
	}{
		{"SIEM up", false, 1, 20 * time.Millisecond, 20 * time.Second},
		{"SIEM down", true, 1, 20 * time.Millisecond, 20 * time.Second},
		// About 3 200 events/s: 160 requests/s, so some are in flight
		// at the cut.
		{"SIEM down, 20 events per request", true, 20, 25 * time.Millisecond, 10 * time.Second},
	} {
		siemDown := tc.siemDown
		t.Run(tc.name, func(t *testing.T) {
			siem := startSIEM(t)
			if siemDown {
				siem.Stop()
			}
			c, disk := powerLossCollector(t, siem, "")
			c.start()
			scheme := newScheme(t)

			load := startLoad(t, c, scheme, loadSpec{clients: 4, interval: tc.interval, duration: tc.duration, retry: true, events: tc.events})
			load.waitAcked(t, 800)
			cutPower(t, c, disk)
			cutAt := load.acked.Len()
			if siemDown {
				siem.Start()
			}
			c.start() // the same config, on what the disk kept
			res := load.wait(t)
			t.Logf("power cut after %d acknowledged events; %d acknowledged in all", cutAt, load.acked.Len())
			require.Greater(t, load.acked.Len(), cutAt, "the restarted collector took more")
			require.Positive(t, res.Failed, "requests failed while the collector was down: the cut happened under load")

			waitDelivered(t, siem, c.archive, scheme, &load.acked)
			// The viewer's index (on the same disk, never fsynced: a cache
			// of the archive, indexing only synced lines) finds every
			// archived event again, none the cut took from the archive.
			archived := archiveTally(t, c.archive, scheme).total
			// Counts stop at auditquery.CountLimit (total_more says so).
			want := min(archived, auditquery.CountLimit)
			var got sharedPage
			require.Eventually(t, func() bool {
				p, status := viewerPage(t, c, "source=glassix&limit=1")
				got = p
				return status == http.StatusOK && uint64(p.Total) == want && p.TotalMore == (archived > auditquery.CountLimit)
			}, time.Minute, 200*time.Millisecond, "the viewer counts %d glassix events (more: %v), the archive holds %d", got.Total, got.TotalMore, archived)
			c.stop()
			requireNothingAcknowledgedLost(t, siem, c, scheme, &load.acked, "the power cut")
		})
	}
}

// TestPowerLossCatchesAnUnsyncedJournal is the control: the same run with
// walstorage's sync off (webhooks answered once the journal entry is
// written, not fsynced) loses acknowledged events in the cut, so the test
// above could fail. The SIEM is down, so its share is only in the
// journal; the cut comes right after the load, before anything
// (a memtable switch) happens to sync the log.
func TestPowerLossCatchesAnUnsyncedJournal(t *testing.T) {
	siem := startSIEM(t)
	siem.Stop()
	c, disk := powerLossCollector(t, siem, "    sync: false\n")
	c.start()
	scheme := newScheme(t)
	load := startLoad(t, c, scheme, loadSpec{clients: 2, interval: 20 * time.Millisecond, duration: 3 * time.Second})
	requireAllAccepted(t, load.wait(t))
	cutPower(t, c, disk)
	siem.Start()
	c.start()
	// What the journal kept reaches the SIEM within seconds; wait long
	// enough to be sure nothing more comes.
	var atSIEM *tally
	require.Eventually(t, func() bool {
		before := siemTally(siem, scheme).ids.Len()
		time.Sleep(3 * time.Second)
		atSIEM = siemTally(siem, scheme)
		return atSIEM.ids.Len() == before
	}, 2*time.Minute, 10*time.Millisecond)
	lost := atSIEM.missing(&load.acked)
	t.Logf("sync off: %d of %d acknowledged events lost at the SIEM in the power cut; it holds %s", lost, load.acked.Len(), atSIEM)
	require.Positive(t, lost, "without fsync, a power cut must lose acknowledged events")
}
