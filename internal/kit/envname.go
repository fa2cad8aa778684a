package kit

import "fmt"

// ValidEnvName reports whether s is a portable environment variable name:
// letters, digits and _, not starting with a digit. Prometheus's classic
// label names follow the same rule.
func ValidEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckEnvName is ValidEnvName as an error that says what is wrong.
func CheckEnvName(s string) error {
	if !ValidEnvName(s) {
		return fmt.Errorf("invalid variable name %q: use letters, digits and _, not starting with a digit", s)
	}
	return nil
}
