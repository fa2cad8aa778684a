package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// TestClientNegotiatesEngineAPIVersion: an engine that speaks API 1.41
// gets requests for 1.41, not for the client library's newest version.
func TestClientNegotiatesEngineAPIVersion(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	}))
	defer engine.Close()
	t.Setenv("DOCKER_HOST", "tcp://"+strings.TrimPrefix(engine.URL, "http://"))
	t.Setenv("DOCKER_API_VERSION", "")
	c, err := Connect(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ContainerList(context.Background(), container.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	last := paths[len(paths)-1]
	if last != "/v1.41/containers/json" {
		t.Fatalf("requests %v: want the list at /v1.41/", paths)
	}
}

func TestConnectSaysWhenNoEngineAnswers(t *testing.T) {
	engine := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(engine.URL, "http://")
	engine.Close() // nothing listens there now
	t.Setenv("DOCKER_HOST", "tcp://"+addr)
	if c, err := Connect(context.Background(), 2*time.Second); err == nil || !strings.Contains(err.Error(), "docker engine not answering") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Connect to nothing: %v", err)
	}
}
