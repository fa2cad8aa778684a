package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Kinds of history record.
const (
	RecordBackup = "backup" // a backup run
	RecordVerify = "verify" // a restore test
	RecordWAL    = "wal"    // WAL shipped to the repository
	RecordDrill  = "drill"  // a disaster-recovery drill
)

// Record is one entry of a backup's history: a run, a restore test, WAL
// shipped, or a drill. The history is JSON lines appended with fsync, so
// a crash loses at most the line being written (a torn last line is
// skipped when read).
type Record struct {
	Kind     string    `json:"kind"`
	Backup   string    `json:"backup,omitempty"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	// Snapshot is the snapshot written (a run) or restored (a test).
	Snapshot     string    `json:"snapshot,omitempty"`
	SnapshotTime time.Time `json:"snapshot_time,omitzero"`
	// Size is the logical size of the data backed up or restored; Added
	// what a run stored new in the repository.
	Size  int64 `json:"size,omitempty"`
	Added int64 `json:"added,omitempty"`
	// RTOSeconds is a restore's measured duration; RPOSeconds the age of
	// the data it restored when it ran.
	RTOSeconds float64       `json:"rto_seconds,omitempty"`
	RPOSeconds float64       `json:"rpo_seconds,omitempty"`
	Checks     []CheckResult `json:"checks,omitempty"`
	// RecoveryPoint is the newest moment a restore can reach after this
	// record (the snapshot's time, or with pitr the last WAL shipped).
	RecoveryPoint time.Time `json:"recovery_point,omitzero"`
}

// historyFile is where a backup's history is kept; the drills' is
// drills.jsonl.
func (m *Manager) historyFile(name string) string {
	if name == "" {
		return m.dir("drills.jsonl")
	}
	return m.dir("history", name+".jsonl")
}

// appendRecord adds r to its history.
func (m *Manager) appendRecord(r Record) error {
	p := m.historyFile(r.Backup)
	if r.Kind == RecordDrill {
		p = m.historyFile("")
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// History returns a backup's records, oldest first ("" for the drills').
// A missing history is empty.
func (m *Manager) History(name string) ([]Record, error) {
	return readHistory(m.historyFile(name))
}

func readHistory(p string) ([]Record, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

// Last returns the newest record of a kind (ok or not), and the newest
// successful one.
func Last(rs []Record, kind string) (last, lastOK *Record) {
	for i := len(rs) - 1; i >= 0; i-- {
		r := &rs[i]
		if r.Kind != kind {
			continue
		}
		if last == nil {
			last = r
		}
		if r.OK {
			lastOK = r
			break
		}
	}
	return last, lastOK
}
