package config

import "strings"

// cycles reports each dependency cycle among a pipeline's jobs once, as
// "a -> b -> c -> a" starting at the cycle's earliest-declared job and
// pointing at that job's needs.
func (v *validator) cycles(pp string, p *Pipeline) {
	idx := make(map[string]int, len(p.JobOrder))
	for i, n := range p.JobOrder {
		idx[n] = i
	}
	edges := func(n string) []string {
		var out []string
		for _, m := range p.Jobs[n].Needs {
			if _, ok := idx[m]; ok && m != n {
				out = append(out, m)
			}
		}
		return out
	}
	for _, scc := range stronglyConnected(p.JobOrder, edges) {
		if len(scc) < 2 {
			continue
		}
		in := map[string]bool{}
		start := scc[0]
		for _, n := range scc {
			in[n] = true
			if idx[n] < idx[start] {
				start = n
			}
		}
		cycle := shortestCycle(start, in, edges)
		np := pp + ".jobs." + start + ".needs"
		v.errorKey(np, np, "dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}

// stronglyConnected is Tarjan's algorithm over nodes in the given order.
func stronglyConnected(nodes []string, edges func(string) []string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	var visit func(n string)
	visit = func(n string) {
		index[n] = len(index)
		low[n] = index[n]
		stack = append(stack, n)
		onStack[n] = true
		for _, m := range edges(n) {
			if _, seen := index[m]; !seen {
				visit(m)
				low[n] = min(low[n], low[m])
			} else if onStack[m] {
				low[n] = min(low[n], index[m])
			}
		}
		if low[n] == index[n] {
			var scc []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				scc = append(scc, m)
				if m == n {
					break
				}
			}
			out = append(out, scc)
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	return out
}

// shortestCycle finds, by breadth-first search inside one strongly
// connected component, the shortest path from start back to start.
func shortestCycle(start string, in map[string]bool, edges func(string) []string) []string {
	parent := map[string]string{}
	queue := []string{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, m := range edges(n) {
			if !in[m] {
				continue
			}
			if m == start {
				path := []string{start}
				for c := n; c != start; c = parent[c] {
					path = append(path, c)
				}
				path = append(path, start)
				// path is start, n, ..., start reversed in the middle.
				mid := path[1 : len(path)-1]
				for i, j := 0, len(mid)-1; i < j; i, j = i+1, j-1 {
					mid[i], mid[j] = mid[j], mid[i]
				}
				return path
			}
			if _, seen := parent[m]; !seen {
				parent[m] = n
				queue = append(queue, m)
			}
		}
	}
	return []string{start, start}
}
