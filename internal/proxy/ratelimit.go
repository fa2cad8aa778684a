package proxy

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// DefaultRateLimitClients is how many clients' buckets one rate limit
// keeps by default: past it the least recently seen client's bucket is
// dropped (it starts full again if that client comes back), so memory
// stays bounded however many clients there are (about 150 bytes each).
const DefaultRateLimitClients = 100_000

// limiterShards spreads clients over locks so concurrent requests rarely
// wait for each other.
const limiterShards = 32

// limiter is a token bucket per client with a bounded LRU of buckets, the
// way nginx's limit_req keeps its zone: each bucket holds up to burst
// tokens and refills at rate tokens per nanosecond.
type limiter struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	header string // canonical header name clients are told apart by; "" = client IP
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	max     int
	// An intrusive list, most recently used first.
	head, tail *bucket
}

type bucket struct {
	key        string
	tokens     float64
	last       int64 // unix nanoseconds of the last refill
	prev, next *bucket
}

func newLimiter(rl *RateLimit, clients int) *limiter {
	per := rl.Per
	if per <= 0 {
		per = time.Second
	}
	burst := rl.Burst
	if burst <= 0 {
		burst = rl.Requests
	}
	if clients <= 0 {
		clients = DefaultRateLimitClients
	}
	header, _ := limitKeyOf(rl.By) // validated with the table
	l := &limiter{
		rate:   float64(rl.Requests) / float64(per),
		burst:  float64(burst),
		header: header,
		seed:   maphash.MakeSeed(),
	}
	perShard := max(1, (clients+limiterShards-1)/limiterShards)
	for i := range l.shards {
		l.shards[i] = limiterShard{buckets: map[string]*bucket{}, max: perShard}
	}
	return l
}

// allow takes a token from key's bucket at now (unix nanoseconds). When
// the bucket is empty it returns false and how long until a token is
// there.
func (l *limiter) allow(key string, now int64) (time.Duration, bool) {
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	b := sh.buckets[key]
	if b == nil {
		b = sh.add(strings.Clone(key), l.burst, now)
	} else {
		sh.touch(b)
		if elapsed := now - b.last; elapsed > 0 {
			b.tokens = min(l.burst, b.tokens+float64(elapsed)*l.rate)
			b.last = now
		}
	}
	if b.tokens >= 1 {
		b.tokens--
		sh.mu.Unlock()
		return 0, true
	}
	wait := time.Duration((1 - b.tokens) / l.rate)
	sh.mu.Unlock()
	return wait, false
}

// add makes a full bucket for key, dropping the least recently used one
// when the shard is full.
func (sh *limiterShard) add(key string, tokens float64, now int64) *bucket {
	if len(sh.buckets) >= sh.max {
		old := sh.tail
		sh.unlink(old)
		delete(sh.buckets, old.key)
	}
	b := &bucket{key: key, tokens: tokens, last: now}
	sh.buckets[key] = b
	sh.pushFront(b)
	return b
}

func (sh *limiterShard) touch(b *bucket) {
	if sh.head == b {
		return
	}
	sh.unlink(b)
	sh.pushFront(b)
}

func (sh *limiterShard) pushFront(b *bucket) {
	b.prev, b.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = b
	}
	sh.head = b
	if sh.tail == nil {
		sh.tail = b
	}
}

func (sh *limiterShard) unlink(b *bucket) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		sh.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		sh.tail = b.prev
	}
	b.prev, b.next = nil, nil
}

// clients is how many buckets the limiter holds (tests).
func (l *limiter) clients() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}
