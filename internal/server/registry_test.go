package server

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tugdev/tug/internal/store"
)

// TestPinnedImagesKeepNewestReleasesPerServiceAndEnvironment: garbage
// collection of tug's registry keeps the images of the newest keep
// releases of each service in each environment, and no older ones.
func TestPinnedImagesKeepNewestReleasesPerServiceAndEnvironment(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 1; i <= 4; i++ {
		for _, env := range []string{"staging", "production"} {
			r := &store.Release{Service: "shop", Environment: env, Status: "live", Digest: fmt.Sprintf("reg/shop@sha256:%s%d", env, i)}
			if err := st.CreateRelease(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A process release pins no image.
	if err := st.CreateRelease(ctx, &store.Release{Service: "web", Environment: "staging", Status: "live", Revision: "abc"}); err != nil {
		t.Fatal(err)
	}
	got, err := pinnedImages(ctx, st, 2)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"reg/shop@sha256:production3", "reg/shop@sha256:production4", "reg/shop@sha256:staging3", "reg/shop@sha256:staging4"}
	if !slices.Equal(got, want) {
		t.Errorf("pinned %v, want %v", got, want)
	}
}
