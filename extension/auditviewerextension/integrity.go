package auditviewerextension // import "github.com/otelcol-audit/otelcol-audit/extension/auditviewerextension"

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-audit/otelcol-audit/internal/engine/archive"
)

// maxShownProblems bounds the problems /api/integrity lists.
const maxShownProblems = 20

// integrityReport is the viewer's whole-archive check: archive.Verify
// (the chain across files, the head, the signed checkpoints with the
// configured public keys), run in the background. The index checks each
// line against the line before it; this check sees what only the whole
// archive shows: a cut tail, a rewritten head, lines reordered rather than
// missing, checkpoints that do not verify.
type integrityReport struct {
	CheckedAt         time.Time         `json:"checked_at"`
	Intact            bool              `json:"intact"`
	Summary           string            `json:"summary"`
	Problems          []archive.Problem `json:"problems"`
	ProblemCount      int               `json:"problem_count"`
	Notes             []string          `json:"notes"`
	SignaturesChecked bool              `json:"signatures_checked"`
	Checkpoints       int               `json:"checkpoints"`
	CoveredSeq        uint64            `json:"covered_seq"`
	UncoveredLines    int               `json:"uncovered_lines"`
	// Command is the full proof to run off the host.
	Command string `json:"command"`
	Error   string `json:"error,omitempty"`
}

// keepVerified checks the archive at start and every VerifyInterval.
func (v *viewer) keepVerified() {
	if v.cfg.VerifyInterval <= 0 {
		return
	}
	for {
		wait := v.cfg.VerifyInterval
		if !v.verifyNow() {
			// No archive or no key yet (the exporter makes both after the
			// viewer starts): look again soon.
			wait = min(wait, verifyRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-v.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// verifyRetry is how soon a check that could not be made in full is
// repeated.
const verifyRetry = 30 * time.Second

// verifyNow checks the archive and reports whether it could be checked in
// full (the archive found, every public key read).
func (v *viewer) verifyNow() bool {
	start := time.Now()
	rep := &integrityReport{CheckedAt: start.UTC(), Problems: []archive.Problem{}, Notes: []string{}, Command: v.verifyCommand()}
	// The keys are read at every check: the exporter creates its key pair
	// at its first start, after the viewer has started.
	var keys archive.Keyring
	var keyErr error
	if len(v.cfg.PublicKeys) > 0 {
		keys, keyErr = archive.KeyringFromFiles(v.cfg.PublicKeys)
	}
	r, err := archive.Verify(v.cfg.Path, archive.VerifyOptions{HMACKey: []byte(v.cfg.HMACKey), Keys: keys, MaxProblems: maxShownProblems})
	if err != nil {
		rep.Error = err.Error()
		rep.Summary = "The archive could not be checked: " + err.Error()
	} else {
		rep.Intact, rep.Problems, rep.ProblemCount, rep.Notes = r.Intact(), r.Problems, len(r.Problems)+r.Omitted, r.Notes
		rep.SignaturesChecked, rep.Checkpoints, rep.CoveredSeq, rep.UncoveredLines = r.SignaturesChecked, r.Checkpoints, r.CoveredSeq, r.UncoveredLines
		rep.Summary = summarize(r)
		if keyErr != nil {
			rep.Summary += " public_keys: " + keyErr.Error()
			rep.Notes = append(rep.Notes, "public_keys: "+keyErr.Error())
		}
		if !r.Intact() {
			v.set.Logger.Warn("The audit archive's integrity check found problems", zap.Int("problems", rep.ProblemCount), zap.String("first", r.Problems[0].String()))
		}
	}
	v.set.Logger.Debug("Checked the audit archive's integrity", zap.Duration("took", time.Since(start)), zap.Bool("intact", rep.Intact))
	v.verifyMu.Lock()
	v.verified = rep
	v.verifyMu.Unlock()
	return err == nil && keyErr == nil
}

func (v *viewer) verifyCommand() string {
	var b strings.Builder
	b.WriteString("auditctl verify")
	for _, k := range v.cfg.PublicKeys {
		fmt.Fprintf(&b, " -pubkey %s", k)
	}
	if len(v.cfg.PublicKeys) == 0 {
		b.WriteString(" -pubkey archive-signing.pub")
	}
	b.WriteString(" -anchors SIEM-LOG " + v.cfg.Path)
	return b.String()
}

func summarize(r *archive.Report) string {
	var parts []string
	switch {
	case !r.Intact():
		kinds := map[archive.ProblemKind]int{}
		var order []archive.ProblemKind
		for _, p := range r.Problems {
			if kinds[p.Kind] == 0 {
				order = append(order, p.Kind)
			}
			kinds[p.Kind]++
		}
		var ks []string
		for _, k := range order {
			ks = append(ks, fmt.Sprintf("%s (%d)", k, kinds[k]))
		}
		parts = append(parts, fmt.Sprintf("Archive integrity BROKEN: %s. First: %s.", strings.Join(ks, ", "), r.Problems[0].String()))
	case r.SignaturesChecked:
		parts = append(parts, fmt.Sprintf("Archive intact: %d signed checkpoints verified, up to seq %d.", r.Checkpoints, r.CoveredSeq))
	default:
		parts = append(parts, "Archive chain intact, but no signature was checked (no public_keys configured): a rewrite with recomputed hashes would not show.")
	}
	if r.UncoveredLines > 0 && r.Checkpoints > 0 {
		parts = append(parts, fmt.Sprintf("The last %d lines are not yet covered by a checkpoint.", r.UncoveredLines))
	}
	return strings.Join(parts, " ")
}

// handleIntegrity answers the newest whole-archive check.
func (v *viewer) handleIntegrity(w http.ResponseWriter, _ *http.Request) {
	v.verifyMu.Lock()
	rep := v.verified
	v.verifyMu.Unlock()
	if rep == nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the archive's integrity check has not finished yet")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
