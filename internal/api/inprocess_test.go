package api

import (
	"context"
	"errors"
	"testing"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

// TestInProcessCarriesTheCaller: a call through InProcess is served by
// the handler in this process with the identity of its context, so the
// role check applies (a viewer's deploy is 403) and a deployer's deploy
// streams its progress as over a socket.
func TestInProcessCarriesTheCaller(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{events: []deploy.Event{{Phase: "start", Message: "go"}}, rel: &deploy.Release{ID: "r1", Status: deploy.StatusLive}}
	_, h, _ := newTestServer(t, d)
	c := InProcess(h)
	viewer := access.WithIdentity(context.Background(), access.Identity{Actor: "token:v", Role: endpoint.Viewer, Via: access.ViaSession})
	_, err := c.Deploy(WithSource(viewer, "dashboard 192.0.2.1:1"), DeployRequest{Service: "shop"}, nil)
	var e *endpoint.Error
	if !errors.As(err, &e) || e.Status != 403 {
		t.Fatalf("a viewer's deploy: %v", err)
	}
	deployer := access.WithIdentity(context.Background(), access.Identity{Actor: "token:d", Role: endpoint.Deployer, Via: access.ViaSession})
	var phases []string
	rel, err := c.Deploy(deployer, DeployRequest{Service: "shop"}, func(ev deploy.Event) { phases = append(phases, ev.Phase) })
	if err != nil || rel.ID != "r1" || len(phases) != 1 {
		t.Fatalf("a deployer's deploy: %+v %v %v", rel, phases, err)
	}
	if got := d.requests[0].Who; got != "token:d" {
		t.Fatalf("recorded as %q, want the session's actor", got)
	}
}
