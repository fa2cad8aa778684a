package scan

import (
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// compareVersions orders two versions of one ecosystem: -1, 0 or +1.
// Go, npm and crates.io use semantic versions; Debian uses dpkg's
// algorithm; the others (PyPI, RubyGems, Alpine) a segment-wise
// comparison where a letter segment before a number is a pre-release.
func compareVersions(eco, a, b string) int {
	switch eco {
	case "Go", "npm", "crates.io":
		va, vb := "v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v")
		if semver.IsValid(va) && semver.IsValid(vb) {
			return semver.Compare(va, vb)
		}
	case "Debian", "Ubuntu":
		return dpkgCompare(a, b)
	}
	return segmentCompare(a, b)
}

// segments splits a version into runs of digits and runs of letters,
// dropping separators.
func segments(v string) []string {
	var out []string
	cur := strings.Builder{}
	digit := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range strings.ToLower(v) {
		isD := r >= '0' && r <= '9'
		isL := r >= 'a' && r <= 'z'
		switch {
		case !isD && !isL:
			flush()
			continue
		case cur.Len() > 0 && isD != digit:
			flush()
		}
		digit = isD
		cur.WriteRune(r)
	}
	flush()
	return out
}

// preRank ranks letter segments: pre-releases sort before the release,
// post-releases (post, p, r for Alpine's -r1) after it.
func preRank(s string) int {
	switch s {
	case "dev":
		return -4
	case "a", "alpha":
		return -3
	case "b", "beta":
		return -2
	case "c", "rc", "pre", "preview":
		return -1
	case "post", "p", "r", "pl":
		return 1
	}
	return -1
}

func segmentCompare(a, b string) int {
	sa, sb := segments(a), segments(b)
	for i := 0; i < len(sa) || i < len(sb); i++ {
		var x, y string
		if i < len(sa) {
			x = sa[i]
		}
		if i < len(sb) {
			y = sb[i]
		}
		if x == y {
			continue
		}
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn < yn {
				return -1
			}
			return 1
		case x == "":
			if yerr == nil {
				return -1
			}
			return -preRankSign(y)
		case y == "":
			if xerr == nil {
				return 1
			}
			return preRankSign(x)
		case xerr == nil: // number beats letters (1.0.1 > 1.0.rc1)
			return 1
		case yerr == nil:
			return -1
		default:
			if rx, ry := preRank(x), preRank(y); rx != ry {
				if rx < ry {
					return -1
				}
				return 1
			}
			return strings.Compare(x, y)
		}
	}
	return 0
}

func preRankSign(s string) int {
	if preRank(s) > 0 {
		return 1
	}
	return -1
}

// dpkgCompare is Debian's version comparison: [epoch:]upstream[-revision].
func dpkgCompare(a, b string) int {
	ea, ua, ra := dpkgSplit(a)
	eb, ub, rb := dpkgSplit(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

func dpkgSplit(v string) (epoch int, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i > 0 {
		epoch, _ = strconv.Atoi(v[:i])
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func dpkgOrder(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func verrevcmp(a, b string) int {
	i, j := 0, 0
	at := func(s string, k int) byte {
		if k < len(s) {
			return s[k]
		}
		return 0
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(at(a, i)), dpkgOrder(at(b, j))
			if i < len(a) && isDigit(a[i]) {
				ac = 0
			}
			if j < len(b) && isDigit(b[j]) {
				bc = 0
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// cvss3Score computes a CVSS v3.x base score from its vector
// ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").
func cvss3Score(vector string) (float64, bool) {
	if !strings.HasPrefix(vector, "CVSS:3") {
		return 0, false
	}
	m := map[string]string{}
	for _, part := range strings.Split(vector, "/")[1:] {
		k, v, ok := strings.Cut(part, ":")
		if ok {
			m[k] = v
		}
	}
	w := func(key string, table map[string]float64) (float64, bool) {
		v, ok := table[m[key]]
		return v, ok
	}
	changed := m["S"] == "C"
	pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if changed {
		pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	av, ok1 := w("AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2})
	ac, ok2 := w("AC", map[string]float64{"L": 0.77, "H": 0.44})
	p, ok3 := w("PR", pr)
	ui, ok4 := w("UI", map[string]float64{"N": 0.85, "R": 0.62})
	c, ok5 := w("C", cia)
	i, ok6 := w("I", cia)
	a, ok7 := w("A", cia)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	iss := 1 - (1-c)*(1-i)*(1-a)
	impact := 6.42 * iss
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	if impact <= 0 {
		return 0, true
	}
	expl := 8.22 * av * ac * p * ui
	score := impact + expl
	if changed {
		score *= 1.08
	}
	return math.Ceil(math.Min(score, 10)*10-1e-9) / 10, true
}
