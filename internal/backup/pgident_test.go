package backup

import "testing"

func TestPgIdent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"shop":             `"shop"`,
		`a"; drop table x`: `"a""; drop table x"`,
		`back\slash`:       `"back\slash"`,
	} {
		if got := pgIdent(in); got != want {
			t.Errorf("pgIdent(%q) = %s, want %s", in, got, want)
		}
	}
}
