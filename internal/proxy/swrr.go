package proxy

// swrr is nginx's smooth weighted round robin: every pick adds each
// candidate's weight to its current value, takes the largest and subtracts
// the total from it. Over any window of sum(weights) picks each candidate is
// chosen exactly weight times, and the picks are spread out (90/10 gives one
// canary request in every ten, not ten in a row). Not safe for concurrent
// use; the caller holds a lock.
type swrr struct {
	weights []int
	current []int
}

func newSWRR(weights []int) *swrr {
	return &swrr{weights: weights, current: make([]int, len(weights))}
}

// next returns the index of the next candidate among those for which ok
// returns true (nil ok = all), or -1 when none is eligible. Candidates of
// weight 0 are never picked.
func (s *swrr) next(ok func(i int) bool) int {
	best, total := -1, 0
	for i, w := range s.weights {
		if w <= 0 || (ok != nil && !ok(i)) {
			continue
		}
		s.current[i] += w
		total += w
		if best < 0 || s.current[i] > s.current[best] {
			best = i
		}
	}
	if best >= 0 {
		s.current[best] -= total
	}
	return best
}
