package alert

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// SlackChannel posts to a Slack-compatible incoming webhook (Slack,
// Mattermost, Rocket.Chat): a text line and one attachment per alert.
type SlackChannel struct {
	URL    string
	Client *http.Client
}

var _ Channel = (*SlackChannel)(nil)

// slackPayload is the incoming-webhook JSON.
type slackPayload struct {
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
}

type slackAttachment struct {
	Color     string       `json:"color,omitempty"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link,omitempty"`
	Text      string       `json:"text,omitempty"`
	Fallback  string       `json:"fallback,omitempty"`
	Fields    []slackField `json:"fields,omitempty"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Send implements Channel.
func (s *SlackChannel) Send(ctx context.Context, m *Message) error {
	return postJSON(ctx, s.Client, s.URL, slackMessage(m))
}

func slackMessage(m *Message) slackPayload {
	p := slackPayload{Text: messageTitle(m)}
	for _, a := range m.Alerts {
		color := "danger"
		if a.Status == StateResolved {
			color = "good"
		}
		title := fmt.Sprintf("[%s] %s %s", strings.ToUpper(a.Status), a.Labels[LabelSeverity], a.Labels[LabelAlertName])
		att := slackAttachment{Color: color, Title: title, TitleLink: a.GeneratorURL, Text: alertSummary(a), Fallback: title}
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			if k != LabelAlertName && k != LabelSeverity {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			att.Fields = append(att.Fields, slackField{Title: k, Value: a.Labels[k], Short: true})
		}
		p.Attachments = append(p.Attachments, att)
	}
	return p
}

// messageTitle is one line saying what a message is about.
func messageTitle(m *Message) string {
	firing := 0
	for _, a := range m.Alerts {
		if a.Status == StateFiring {
			firing++
		}
	}
	name := m.CommonLabels[LabelAlertName]
	if name == "" {
		name = fmt.Sprintf("%d alerts", len(m.Alerts))
	}
	if m.Status == StateResolved {
		return fmt.Sprintf("[RESOLVED] %s", name)
	}
	return fmt.Sprintf("[FIRING:%d] %s", firing, name)
}

// alertSummary is the most useful annotation of an alert.
func alertSummary(a MessageAlert) string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := a.Annotations[k]; v != "" {
			return v
		}
	}
	return ""
}
