package pipeline

import "testing"

// NewTestDocker gives tests of package pipeline_test (which may import
// rooms built on this one, like the cache) a Docker executor and the
// locally built busybox image; it skips when no engine answers.
func NewTestDocker(t *testing.T) (Executor, string) {
	t.Helper()
	d := newTestDocker(t)
	return d, busyboxImage(t, d)
}
