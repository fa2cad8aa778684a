package web

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
)

// DAG geometry.
const (
	nodeW, nodeH = 150, 30
	colGap       = 50
	rowGap       = 14
	dagPad       = 6
)

// drawDAG draws a run's jobs as an SVG graph: one column per depth (the
// longest chain of needs before the job), an arrow from each need, each
// box coloured by its job's state and linking to the job's log lines.
func drawDAG(jobs []jobRow) template.HTML {
	if len(jobs) == 0 {
		return ""
	}
	index := map[string]int{}
	for i, j := range jobs {
		index[j.Name] = i
	}
	depth := make([]int, len(jobs))
	for i := range jobs {
		depth[i] = -1
	}
	var depthOf func(i int, seen map[int]bool) int
	depthOf = func(i int, seen map[int]bool) int {
		if depth[i] >= 0 {
			return depth[i]
		}
		if seen[i] { // a cycle cannot be planned; draw it flat
			return 0
		}
		seen[i] = true
		d := 0
		for _, n := range jobs[i].Needs {
			if k, ok := index[n]; ok {
				d = max(d, depthOf(k, seen)+1)
			}
		}
		depth[i] = d
		return d
	}
	rows := map[int]int{}
	pos := make([][2]int, len(jobs))
	cols, maxRows := 0, 0
	for i := range jobs {
		c := depthOf(i, map[int]bool{})
		pos[i] = [2]int{c, rows[c]}
		rows[c]++
		cols, maxRows = max(cols, c+1), max(maxRows, rows[c])
	}
	w := dagPad*2 + cols*nodeW + (cols-1)*colGap
	h := dagPad*2 + maxRows*nodeH + (maxRows-1)*rowGap
	at := func(i int) (x, y int) {
		return dagPad + pos[i][0]*(nodeW+colGap), dagPad + pos[i][1]*(nodeH+rowGap)
	}
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="dag" viewBox="0 0 %d %d" width="%d" role="img" aria-label="the run's jobs and what each needs">`, w, h, w)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L8,4L0,8z" class="arrowhead"/></marker></defs>`)
	for i, j := range jobs {
		x2, y2 := at(i)
		for _, n := range j.Needs {
			k, ok := index[n]
			if !ok {
				continue
			}
			x1, y1 := at(k)
			fmt.Fprintf(&b, `<path class="edge" d="M%d,%d C%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`,
				x1+nodeW, y1+nodeH/2, x1+nodeW+colGap/2, y1+nodeH/2, x2-colGap/2, y2+nodeH/2, x2, y2+nodeH/2)
		}
	}
	for i, j := range jobs {
		x, y := at(i)
		name := j.Name
		if len(name) > 20 {
			name = name[:19] + "…"
		}
		fmt.Fprintf(&b, `<a href="#job-%s"><g class="node st-%s"><rect x="%d" y="%d" width="%d" height="%d" rx="5"/><text x="%d" y="%d">%s</text><title>%s: %s</title></g></a>`,
			esc(url.PathEscape(j.Name)), esc(j.Status), x, y, nodeW, nodeH, x+8, y+nodeH/2+4, esc(name), esc(j.Name), esc(j.Status))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}
