package kit

import "testing"

func TestSuggest(t *testing.T) {
	t.Parallel()
	keys := []string{"needs", "run", "steps", "stage", "artifacts", "timeout", "image", "unit", "production"}
	for got, want := range map[string]string{
		"nedds":    "needs",
		"neds":     "needs",
		"artifact": "artifacts",
		"tiemout":  "timeout",
		"unti":     "unit", // a swap of neighbours is one edit
		"rn":       "run",
		"prod":     "production",
		"needs":    "", // exact: nothing to suggest
		"zzzzzz":   "",
		"x":        "",
	} {
		if s := Suggest(got, keys); s != want {
			t.Errorf("Suggest(%q) = %q, want %q", got, s, want)
		}
	}
	if s := DidYouMean("tset", []string{"test", "build"}); s != ` (did you mean "test"?)` {
		t.Fatalf("DidYouMean = %q", s)
	}
	if s := DidYouMean("cii", []string{"ci", "nightly"}); s != ` (did you mean "ci"?)` {
		t.Fatalf("DidYouMean of a short name = %q", s)
	}
	if s := DidYouMean("zzz", []string{"test"}); s != "" {
		t.Fatalf("DidYouMean of nothing close = %q", s)
	}
}
