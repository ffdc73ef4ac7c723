//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/loadtest/loadid"
	"github.com/otelcol-audit/otelcol-audit/internal/testkit/syslogtest"
)

// newScheme returns the event ids of one test: Glassix log ids (UUIDs)
// carrying a random nonce and a sequence number, so every event is found
// again, by its id, in what rsyslog parsed and in the archive.
func newScheme(t testing.TB) loadid.Scheme {
	t.Helper()
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return loadid.NewScheme(binary.LittleEndian.Uint32(b[:]))
}

// tally is what one destination holds of a test's events.
type tally struct {
	// ids holds the events by sequence number; ids.Duplicates() counts
	// events that arrived more than once.
	ids loadid.Set
	// total counts the test's events, duplicates included.
	total uint64
	// others counts messages or lines that are not the test's events.
	others int
}

func (tl *tally) add(id string, scheme loadid.Scheme) {
	found := false
	scheme.Scan([]byte(id), func(seq uint64) {
		found = true
		tl.ids.Add(seq)
		tl.total++
	})
	if !found {
		tl.others++
	}
}

// missing counts the events of want that did not arrive.
func (tl *tally) missing(want *loadid.Set) uint64 { return tl.ids.Missing(want) }

// unwanted counts the events that arrived although they are not in want.
func (tl *tally) unwanted(want *loadid.Set) uint64 { return want.Missing(&tl.ids) }

func (tl *tally) String() string {
	return fmt.Sprintf("%d events (%d messages, %d duplicates), %d others", tl.ids.Len(), tl.total, tl.ids.Duplicates(), tl.others)
}

// siemTally counts the Glassix events rsyslog parsed, by the log id in
// their structured data.
func siemTally(siem *syslogtest.Server, scheme loadid.Scheme) *tally {
	tl := &tally{}
	for _, m := range siem.Messages() {
		tl.add(m.StructuredData[sdID]["id"], scheme)
	}
	return tl
}

// archiveTally counts the Glassix events in the archive, by their id
// attribute. Every line but a last one being written must be sound.
func archiveTally(t testing.TB, path string, scheme loadid.Scheme) *tally {
	t.Helper()
	tl := &tally{}
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return tl
	}
	a, err := archive.Open(path)
	require.NoError(t, err)
	for e, err := range a.Entries() {
		require.NoError(t, err)
		if e.Status == archive.StatusIncomplete {
			continue // being written
		}
		require.Equal(t, archive.StatusOK, e.Status, "%s:%d: %v", e.File, e.Line, e.Err)
		ev, err := e.Decode()
		require.NoError(t, err)
		if ev.IsMarker() {
			continue
		}
		id, _ := ev.Attributes["id"].(string)
		tl.add(id, scheme)
	}
	return tl
}

// Generous deadlines: the machine is shared and noisy, and the exporters
// back off up to 30 s between retries.
const deliveryDeadline = 3 * time.Minute

// waitDelivered waits until every event of want has reached the SIEM and
// the archive.
func waitDelivered(t testing.TB, siem *syslogtest.Server, archivePath string, scheme loadid.Scheme, want *loadid.Set) {
	t.Helper()
	waitFor(t, "the SIEM", func() *tally { return siemTally(siem, scheme) }, want)
	waitFor(t, "the archive", func() *tally { return archiveTally(t, archivePath, scheme) }, want)
}

func waitFor(t testing.TB, where string, count func() *tally, want *loadid.Set) {
	t.Helper()
	deadline := time.Now().Add(deliveryDeadline)
	for {
		tl := count()
		missing := tl.missing(want)
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d events missing after %s; it holds %s", where, missing, want.Len(), deliveryDeadline, tl)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// requireExactlyOnce checks that a destination holds every event of want,
// once, and nothing else of the test's.
func requireExactlyOnce(t testing.TB, where string, tl *tally, want *loadid.Set) {
	t.Helper()
	require.Zero(t, tl.missing(want), "%s: events lost; it holds %s", where, tl)
	require.Zero(t, tl.unwanted(want), "%s: events that were never acknowledged; it holds %s", where, tl)
	require.Zero(t, tl.ids.Duplicates(), "%s: duplicates; it holds %s", where, tl)
	require.Equal(t, want.Len(), tl.total, "%s: exact count; it holds %s", where, tl)
}
