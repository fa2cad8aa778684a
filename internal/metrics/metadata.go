package metrics

import (
	"sync"

	"github.com/prometheus/prometheus/model/metadata"
)

// metadataStore keeps the metric metadata (type, help, unit) of the
// in-process sources, by job, for /api/v1/metadata. HTTP targets keep
// theirs in the scrape manager. Safe for concurrent use.
type metadataStore struct {
	mu    sync.RWMutex
	byJob map[string]map[string]metadata.Metadata
}

func newMetadataStore() *metadataStore {
	return &metadataStore{byJob: map[string]map[string]metadata.Metadata{}}
}

// set replaces the metadata of one job.
func (s *metadataStore) set(job string, m map[string]metadata.Metadata) {
	s.mu.Lock()
	s.byJob[job] = m
	s.mu.Unlock()
}

// each calls f for every family's metadata of every job.
func (s *metadataStore) each(f func(family string, md metadata.Metadata)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.byJob {
		for name, md := range m {
			f(name, md)
		}
	}
}
