package pipeline

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
)

// matrixCells expands a matrix into its cells and their instance names.
// The cells are the cartesian product of the axes (in axis order), minus
// cells matching an exclude entry, then each include entry either adds
// its extra keys to every cell it agrees with on the axes, or, agreeing
// with none, becomes a cell of its own (GitHub Actions' rules). Without a
// matrix there is one empty cell named base.
func matrixCells(base string, m *config.Matrix) ([]map[string]string, []string, error) {
	if m == nil {
		return []map[string]string{{}}, []string{base}, nil
	}
	axes := declOrder(m.AxisOrder, m.Axes)
	isAxis := map[string]bool{}
	for _, a := range axes {
		isAxis[a] = true
	}
	var cells []map[string]string
	if len(axes) > 0 {
		cells = []map[string]string{{}}
		for _, a := range axes {
			var next []map[string]string
			for _, c := range cells {
				for _, v := range m.Axes[a] {
					nc := maps.Clone(c)
					nc[a] = v
					next = append(next, nc)
				}
			}
			cells = next
		}
	}
	for i, ex := range m.Exclude {
		if len(ex) == 0 {
			return nil, nil, fmt.Errorf("matrix.exclude[%d] is empty", i)
		}
		for k := range ex {
			if !isAxis[k] {
				return nil, nil, fmt.Errorf("matrix.exclude[%d]: %q is not a matrix axis", i, k)
			}
		}
		cells = slices.DeleteFunc(cells, func(c map[string]string) bool { return agrees(c, ex, nil) })
	}
	names := make([]string, len(cells))
	for i, c := range cells {
		names[i] = instanceName(base, axes, c, false)
	}
	product := len(cells)
	for i, inc := range m.Include {
		if len(inc) == 0 {
			return nil, nil, fmt.Errorf("matrix.include[%d] is empty", i)
		}
		matched := false
		for _, c := range cells[:product] {
			if agrees(c, inc, isAxis) {
				matched = true
				for k, v := range inc {
					if !isAxis[k] {
						c[k] = v
					}
				}
			}
		}
		if !matched {
			cells = append(cells, maps.Clone(inc))
			names = append(names, instanceName(base, axes, inc, true))
		}
	}
	if len(cells) == 0 {
		return nil, nil, errors.New("matrix expands to no jobs")
	}
	return cells, names, nil
}

// agrees reports whether cell has every key of want (only axis keys, when
// isAxis is set) with the same value.
func agrees(cell, want map[string]string, isAxis map[string]bool) bool {
	for k, v := range want {
		if isAxis != nil && !isAxis[k] {
			continue
		}
		if cv, ok := cell[k]; !ok || cv != v {
			return false
		}
	}
	return true
}

// instanceName is "base[k=v,k2=v2]" over the axes in order; a cell made by
// include also names its other keys, sorted, so it stays distinct.
func instanceName(base string, axes []string, cell map[string]string, all bool) string {
	var parts []string
	for _, a := range axes {
		if v, ok := cell[a]; ok {
			parts = append(parts, a+"="+v)
		}
	}
	if all {
		for _, k := range slices.Sorted(maps.Keys(cell)) {
			if !slices.Contains(axes, k) {
				parts = append(parts, k+"="+cell[k])
			}
		}
	}
	return base + "[" + strings.Join(parts, ",") + "]"
}
