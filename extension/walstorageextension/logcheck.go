package walstorageextension // import "github.com/otelcol-audit/otelcol-audit/extension/walstorageextension"

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/record"
	"go.uber.org/zap"
)

// blockSize is pebble's log block: chunks never cross one.
const blockSize = 32 << 10

// logDamage is what checkNewestLog found in the newest write-ahead log.
type logDamage struct {
	file   string
	offset int64 // where the first damaged record starts
	cause  error
	// after counts valid records of this log after the damage: pebble
	// stops replaying at the damage, so they are not restored.
	after int
	torn  bool // the log ends inside a record (nothing valid after it)
}

// checkNewestLog reads the newest write-ahead log in dir as pebble replays
// it and reports damage pebble passes over without a word: pebble ends the
// replay of its newest log at the first record it cannot read, which is
// right for a record cut short by a crash (never acknowledged: the answer
// waits for the fsync covering it) or for the unused tail of a recycled
// file, and wrong when valid records of the same log follow (the disk
// damaged acknowledged writes). Pebble's record package reads the log; it
// has no call for this check.
func checkNewestLog(dir string) (*logDamage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var newest uint64
	name := ""
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(base, 10, 64)
		if err != nil || (name != "" && n <= newest) {
			continue
		}
		newest, name = n, e.Name()
	}
	if name == "" {
		return nil, nil
	}
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	offset, cause := readRecords(io.NewSectionReader(f, 0, fi.Size()), pebble.FileNum(newest), nil)
	if cause == nil {
		return nil, nil
	}
	d := &logDamage{file: path, offset: offset, cause: cause}
	// Valid records of this log in the blocks after the damage? (A
	// recycled file's old records carry another log number: not counted.)
	next := (offset/blockSize + 1) * blockSize
	if next < fi.Size() {
		readRecords(io.NewSectionReader(f, next, fi.Size()-next), pebble.FileNum(newest), &d.after)
	}
	// Nothing valid after it: the last record was cut short (it runs past
	// the end of the file, or a crash left it half written before the
	// preallocated zeros). A zeroed chunk is the file's unused tail.
	d.torn = d.after == 0 && !errors.Is(cause, record.ErrZeroedChunk)
	return d, nil
}

// readRecords reads records until the end or the first damaged one, whose
// offset and error it returns (nil at a clean end). It counts the good
// records in count when set.
func readRecords(r io.Reader, num pebble.FileNum, count *int) (int64, error) {
	rr := record.NewReader(r, num)
	for {
		offset := rr.Offset()
		rec, err := rr.Next()
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
		}
		switch {
		case err == io.EOF:
			return 0, nil
		case err != nil && (record.IsInvalidRecord(err) || errors.Is(err, io.ErrUnexpectedEOF)):
			return offset, err
		case err != nil:
			return offset, err
		}
		if count != nil {
			*count++
		}
	}
}

// reportLogDamage logs what checkNewestLog found: an error when written
// records will not be restored, a warning for a record cut short at the
// end, nothing for the unused tail of a preallocated or recycled file.
func reportLogDamage(logger *zap.Logger, d *logDamage) {
	switch {
	case d == nil:
	case d.after > 0:
		logger.Error("The write-ahead log is damaged before its end: pebble restores the writes before the damage only; the ones after it (possibly acknowledged events, queue or journal entries) are lost. Keep a copy of the directory for analysis",
			zap.String("file", d.file), zap.Int64("offset", d.offset), zap.Int("records_after", d.after), zap.Error(d.cause))
	case d.torn:
		logger.Warn("The write-ahead log ends in a record cut short (a crash during a write): dropped; it was never acknowledged, since answers wait for the fsync that covers them",
			zap.String("file", d.file), zap.Int64("offset", d.offset))
	}
}
