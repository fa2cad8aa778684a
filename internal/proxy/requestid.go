package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
)

// idSource makes request ids: a random per-process prefix and a counter,
// unique without a syscall or lock per request. Ids are made in batches
// of idBatchSize consecutive ones, one string and one slice per batch,
// so a request's id allocates nothing.
type idSource struct {
	prefix  string
	n       atomic.Uint64
	batches sync.Pool // *idBatch, partly used
}

const idBatchSize = 64

// idBatch is a run of ids; each element of vals backs the one-element
// slice handed out for it.
type idBatch struct {
	vals []string
	next int
}

func newIDSource() *idSource {
	var b [8]byte
	rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:]) + "-"}
}

// next returns a new id as the one-element value of the header that
// carries it. The caller must not append to it.
func (s *idSource) next() []string {
	b, _ := s.batches.Get().(*idBatch)
	if b == nil || b.next == len(b.vals) {
		b = s.fill()
	}
	v := b.vals[b.next : b.next+1 : b.next+1]
	b.next++
	s.batches.Put(b)
	return v
}

// fill makes a batch of the next idBatchSize ids.
func (s *idSource) fill() *idBatch {
	last := s.n.Add(idBatchSize)
	var ends [idBatchSize]int
	buf := make([]byte, 0, idBatchSize*(len(s.prefix)+8))
	for i := range ends {
		buf = append(buf, s.prefix...)
		buf = strconv.AppendUint(buf, last-idBatchSize+1+uint64(i), 16)
		ends[i] = len(buf)
	}
	all := string(buf)
	b := &idBatch{vals: make([]string, idBatchSize)}
	start := 0
	for i, e := range ends {
		b.vals[i], start = all[start:e], e
	}
	return b
}
