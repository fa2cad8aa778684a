package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

// startWait is how long a deploy form waits for the deploy's first step
// before showing the service page anyway.
const startWait = 15 * time.Second

// lifeContext carries r's caller and source under the dashboard's life,
// for work that outlives the request.
func (d *Handler) lifeContext(r *http.Request) context.Context {
	ctx := api.WithSource(d.o.Life, "dashboard "+r.RemoteAddr)
	if id, ok := access.IdentityOf(r.Context()); ok {
		ctx = access.WithIdentity(ctx, id)
	}
	return ctx
}

// follow starts a deploy or rollback that goes on after the request,
// waits until it has started (or failed at once), then shows the
// service page, where it goes on live.
func (d *Handler) follow(w http.ResponseWriter, r *http.Request, what string, start func(ctx context.Context, each func(deploy.Event)) (*deploy.Release, error)) {
	name, env := r.PathValue("name"), r.PostForm.Get("env")
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := start(d.lifeContext(r), func(deploy.Event) { once.Do(func() { close(started) }) })
		done <- err
	}()
	flash := what + " started"
	select {
	case <-started:
	case err := <-done:
		var e *endpoint.Error
		switch {
		case err == nil:
			flash = what + " done"
		case errors.As(err, &e) && e.Code == "deploy_failed":
			flash = what + " failed: " + e.Message
		default:
			d.fail(w, r, err)
			return
		}
	case <-time.After(startWait):
	}
	d.backTo(w, r, "/services/"+url.PathEscape(name), url.Values{"env": {env}, "flash": {flash}})
}

// backTo sends the browser to path after a form.
func (d *Handler) backTo(w http.ResponseWriter, r *http.Request, path string, q url.Values) {
	for k, v := range q {
		if len(v) == 0 || v[0] == "" {
			delete(q, k)
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (d *Handler) deploy(w http.ResponseWriter, r *http.Request) {
	req := api.DeployRequest{Service: r.PathValue("name"), Environment: r.PostForm.Get("env"), Version: r.PostForm.Get("version"), Who: actor(r)}
	d.follow(w, r, "deploy", func(ctx context.Context, each func(deploy.Event)) (*deploy.Release, error) {
		return d.client.Deploy(ctx, req, each)
	})
}

func (d *Handler) rollback(w http.ResponseWriter, r *http.Request) {
	req := api.RollbackRequest{Service: r.PathValue("name"), Environment: r.PostForm.Get("env"), Who: actor(r)}
	d.follow(w, r, "rollback", func(ctx context.Context, each func(deploy.Event)) (*deploy.Release, error) {
		return d.client.Rollback(ctx, req, each)
	})
}

// approve approves or rejects a release waiting for approval.
func (d *Handler) approve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	call, what := d.client.Approve, "approved"
	if r.URL.Path == "/releases/"+id+"/reject" {
		call, what = d.client.Reject, "rejected"
	}
	rel, err := call(r.Context(), id, actor(r))
	if err != nil {
		d.fail(w, r, err)
		return
	}
	d.backTo(w, r, "/services/"+url.PathEscape(rel.Service), url.Values{"env": {rel.Environment}, "flash": {"release " + id + " " + what}})
}

// actor is the name an action from the page is recorded under: the
// caller's identity (the API keeps a token's own name whatever is sent).
func actor(r *http.Request) string {
	id, _ := access.IdentityOf(r.Context())
	return id.Actor
}
