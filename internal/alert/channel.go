package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tugdev/tug/internal/config"
)

// Channel delivers notifications to one receiver. Send is called from
// several goroutines at once; it must honour ctx's deadline and
// cancellation, and return an error when the receiver did not take the
// message (the engine then retries with backoff, unless the error wraps
// ErrPermanent).
type Channel interface {
	Send(ctx context.Context, m *Message) error
}

// Channel kinds, as in tug.yaml.
const (
	KindWebhook      = "webhook"
	KindSlack        = "slack"
	KindEmail        = "email"
	KindAlertmanager = "alertmanager"
)

// namedChannel is a channel with its name and kind from tug.yaml.
type namedChannel struct {
	name, kind string
	ch         Channel
}

// buildChannels makes the channels tug.yaml declares.
func buildChannels(n *config.Notify, hc *http.Client, secret func(context.Context, string) (string, error)) (map[string]*namedChannel, []string, error) {
	out := map[string]*namedChannel{}
	var order []string
	if n == nil {
		return out, nil, nil
	}
	for i, c := range n.Channels {
		if c == nil || c.Name == "" {
			return nil, nil, fmt.Errorf("%w: notify.channels[%d]: missing name", ErrInvalid, i)
		}
		nc := &namedChannel{name: c.Name}
		switch {
		case c.Webhook != nil:
			nc.kind, nc.ch = KindWebhook, &WebhookChannel{URL: c.Webhook.URL, Client: hc}
		case c.Slack != nil:
			nc.kind, nc.ch = KindSlack, &SlackChannel{URL: c.Slack.URL, Client: hc}
		case c.Alertmanager != nil:
			nc.kind, nc.ch = KindAlertmanager, &AlertmanagerChannel{URL: c.Alertmanager.URL, Client: hc}
		case c.Email != nil:
			nc.kind, nc.ch = KindEmail, &EmailChannel{Config: *c.Email, Secret: secret}
		default:
			return nil, nil, fmt.Errorf("%w: notify.channels[%d] (%s): no kind: set webhook, slack, email or alertmanager", ErrInvalid, i, c.Name)
		}
		if out[c.Name] != nil {
			return nil, nil, fmt.Errorf("%w: notify.channels[%d]: channel %q declared twice", ErrInvalid, i, c.Name)
		}
		out[c.Name] = nc
		order = append(order, c.Name)
	}
	return out, order, nil
}

// postJSON sends v to url and wants a 2xx answer. 4xx answers other than
// 408 and 429 are permanent.
func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tug")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return err
}

// WebhookChannel posts Alertmanager's webhook payload (version 4).
type WebhookChannel struct {
	URL    string
	Client *http.Client
}

var _ Channel = (*WebhookChannel)(nil)

// Send implements Channel.
func (w *WebhookChannel) Send(ctx context.Context, m *Message) error {
	return postJSON(ctx, w.Client, w.URL, m)
}
