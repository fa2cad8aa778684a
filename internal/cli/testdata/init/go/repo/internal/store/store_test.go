package store

import "testing"

func TestGet(t *testing.T) {
	if Get() != "" {
		t.Fatal("want empty")
	}
}
