package kit

import "testing"

func TestValidEnvName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"PATH": true, "_x": true, "a1_B2": true,
		"": false, "1A": false, "A-B": false, "A B": false, "É": false, "A=B": false,
	} {
		if got := ValidEnvName(s); got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", s, got, want)
		}
		if err := CheckEnvName(s); (err == nil) != want {
			t.Errorf("CheckEnvName(%q) = %v", s, err)
		}
	}
	if err := CheckEnvName("1A"); err == nil || err.Error() != `invalid variable name "1A": use letters, digits and _, not starting with a digit` {
		t.Fatalf("CheckEnvName error = %v", err)
	}
}
