package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
)

func TestRouteURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ route, addr, want string }{
		{"shop.localhost", "127.0.0.1:8080", "http://shop.localhost:8080/"},
		{"shop.localhost/api", "127.0.0.1:8080", "http://shop.localhost:8080/api"},
		{"shop.example.com", ":80", "http://shop.example.com/"},
	} {
		if got := routeURL(tc.route, tc.addr); got != tc.want {
			t.Errorf("routeURL(%q, %q) = %q, want %q", tc.route, tc.addr, got, tc.want)
		}
	}
}

func TestServerErrExitCodes(t *testing.T) {
	t.Parallel()
	a := newApp(Env{})
	a.stateFlag = t.TempDir()
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: dial", api.ErrUnreachable), exitUnreachable},
		{&endpoint.Error{Status: 404, Code: "unknown_service", Message: "unknown service"}, exitBadInput},
		{&endpoint.Error{Status: 400, Code: "bad_request", Message: "body: x"}, exitBadInput},
		{&endpoint.Error{Status: 400, Code: "invalid_config", Message: "x", Details: []endpoint.Detail{{File: "tug.yaml", Line: 3, Col: 5, Message: "bad"}}}, exitBadInput},
		{&endpoint.Error{Status: 409, Code: "busy", Message: "busy"}, exitFailed},
		{&endpoint.Error{Status: 422, Code: "deploy_failed", Message: "failed"}, exitFailed},
	} {
		err := a.serverErr(tc.err)
		if got := exitCode(err); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
	}
	var list config.Errors
	err := a.serverErr(&endpoint.Error{Status: 400, Code: "invalid_config", Details: []endpoint.Detail{{File: "/x/tug.yaml", Line: 3, Col: 5, Path: "services.web", Message: "bad"}}})
	if !errors.As(err, &list) || list[0].Error() != "/x/tug.yaml:3:5: services.web: bad" {
		t.Errorf("config details: %v", err)
	}
}
