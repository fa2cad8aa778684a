package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// NewClient returns a client of the Docker engine that DOCKER_HOST and
// friends name (the local socket by default). It negotiates the API
// version on its first request, so tug speaks whatever engine it finds
// (API 1.41 on Docker 20.10) instead of its library's newest. It does
// not contact the engine; the caller closes it.
func NewClient() (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// Connect is NewClient, once the engine answered a ping within timeout;
// when it did not, the client is closed and the error says why.
func Connect(ctx context.Context, timeout time.Duration) (*client.Client, error) {
	c, err := NewClient()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine not answering: %w", err)
	}
	return c, nil
}

// ContainerName is a new container's name: tug-NAME-RANDOM, so tug's
// containers are recognisable and a name is never taken twice.
func ContainerName(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "tug-" + name + "-" + hex.EncodeToString(b)
}

// ShortID is a container or image ID as the docker CLI prints it: its
// first 12 characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
