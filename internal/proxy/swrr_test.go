package proxy

import (
	"net/http"
	"testing"
)

func TestSWRRExactDistribution(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		weights []int
		rounds  int
	}{
		{[]int{90, 10}, 3},
		{[]int{1, 2, 7}, 5},
		{[]int{5, 0, 1}, 4},
	} {
		s := newSWRR(tc.weights)
		total := 0
		for _, w := range tc.weights {
			total += w
		}
		for round := 0; round < tc.rounds; round++ {
			counts := make([]int, len(tc.weights))
			for i := 0; i < total; i++ {
				counts[s.next(nil)]++
			}
			for i, w := range tc.weights {
				if counts[i] != w {
					t.Fatalf("weights %v round %d: counts %v, want exactly the weights", tc.weights, round, counts)
				}
			}
		}
	}
}

// TestSWRRSmooth: nginx's example {5,1,1} gives a a b a c a a, not a a a a a b c.
func TestSWRRSmooth(t *testing.T) {
	t.Parallel()
	s := newSWRR([]int{5, 1, 1})
	var got []byte
	for i := 0; i < 7; i++ {
		got = append(got, "abc"[s.next(nil)])
	}
	if string(got) != "aabacaa" {
		t.Fatalf("sequence %s, want aabacaa", got)
	}
	// 90/10: the canary gets one request in each run of ten, never two in a row.
	s = newSWRR([]int{90, 10})
	last := -1
	for i := 0; i < 100; i++ {
		n := s.next(nil)
		if n == 1 && last == 1 {
			t.Fatalf("canary picked twice in a row at %d", i)
		}
		last = n
	}
}

func TestSWRRSkipsIneligible(t *testing.T) {
	t.Parallel()
	s := newSWRR([]int{1, 2, 7})
	for i := 0; i < 20; i++ {
		if got := s.next(func(i int) bool { return i != 2 }); got == 2 {
			t.Fatal("picked an ineligible candidate")
		}
	}
	if got := s.next(func(int) bool { return false }); got != -1 {
		t.Fatalf("nothing eligible: got %d, want -1", got)
	}
}

// TestWeightsThroughProxy: 1/2/7 pools get exactly 1, 2 and 7 of every ten requests.
func TestWeightsThroughProxy(t *testing.T) {
	t.Parallel()
	a, b, c := namedBackend(t, "a"), namedBackend(t, "b"), namedBackend(t, "c")
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(a)), mkPool("r2", 2, hostOf(b)), mkPool("r3", 7, hostOf(c))))
	counts := map[string]int{}
	for i := 0; i < 30; i++ {
		code, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		counts[body]++
	}
	if counts["a"] != 3 || counts["b"] != 6 || counts["c"] != 21 {
		t.Fatalf("counts %v, want a=3 b=6 c=21", counts)
	}
}
