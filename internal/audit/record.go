// Package audit keeps tug's audit log: who did what, to what, from where,
// with what outcome and when. Every change made through the API, every
// read that reveals a secret, every refused credential, and the changes
// rooms make on their own (config applies, scheduled rotations,
// remediations) write a record. Records are appended to one file and
// hash-chained: each carries the hash of the one before, and a head file
// holds the last, so Verify names any record changed, removed or moved.
//
// Rooms that act without an API call record through a Recorder they are
// given (the server passes its *Log):
//
//	type Recorder interface{ Record(ctx context.Context, r audit.Record) error }
//
// Record fills Seq, Time, Prev and Hash; set Actor ("tug" for the server
// itself, or the person the change is on behalf of), Action (a short dotted
// name: "secret.rotate", "incident.remediate"), Target, Outcome and, if
// useful, Detail. Never put a secret value in a record.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Record is one entry of the audit log.
type Record struct {
	// Seq numbers the records from 1, without gaps.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Actor is who acted: "token:ci", "ann (uid 1000)", "tug" (the
	// server on its own), "unknown" (a refused credential naming no one).
	Actor string `json:"actor"`
	// Action is what was done: an API operation ("POST /api/deploys") or
	// a room's own action ("config.apply", "token.refused").
	Action string `json:"action"`
	// Target is what it was done to: "web/production", a release ID, a
	// token's or a secret's name (never its value).
	Target string `json:"target,omitempty"`
	// Source is where the request came from: the client's address, or
	// "unix" for the local socket; empty for the server's own actions.
	Source string `json:"source,omitempty"`
	// Outcome is ok, denied (a refused credential or role) or failed.
	Outcome string `json:"outcome"`
	// Detail says more: the error of a failed call, the release made.
	Detail string `json:"detail,omitempty"`
	// Prev is the Hash of the record before ("" for the first).
	Prev string `json:"prev"`
	// Hash is the SHA-256 (hex) of the record's line up to this field.
	Hash string `json:"hash,omitempty"`
}

// Outcomes.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

// maxField bounds each free-text field, so one record stays one
// readable line.
const maxField = 1024

func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	return s[:maxField] + "…"
}

// hashSuffix is how a line ends: `,"hash":"` 64 hex digits `"}`.
const (
	hashKey    = `,"hash":"`
	hashSuffix = len(hashKey) + 2*sha256.Size + len(`"}`)
)

// encode is r's line (newline included) and hash. r.Hash is ignored.
func encode(r Record) (line []byte, hash string, err error) {
	r.Hash = ""
	body, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(body)
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(body)+hashSuffix+1)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashKey...)
	line = append(line, hash...)
	line = append(line, `"}`...)
	return append(line, '\n'), hash, nil
}

// errNotRecord: a line that is not a record as Log writes them.
var errNotRecord = errors.New("not a record")

// decode reads one line (without its newline) and says whether its
// content still matches its hash.
func decode(line []byte) (r Record, intact bool, err error) {
	if len(line) < hashSuffix+2 || !bytes.HasSuffix(line, []byte(`"}`)) ||
		!bytes.Equal(line[len(line)-hashSuffix:len(line)-hashSuffix+len(hashKey)], []byte(hashKey)) {
		return r, false, errNotRecord
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, false, fmt.Errorf("%w: %v", errNotRecord, err)
	}
	body := append(append([]byte(nil), line[:len(line)-hashSuffix]...), '}')
	sum := sha256.Sum256(body)
	return r, hex.EncodeToString(sum[:]) == r.Hash, nil
}
