package alert

import (
	"maps"
	"time"
)

// Message is one notification in Alertmanager's webhook payload, version
// 4, field for field; the webhook channel sends it as is and the other
// channels render it.
type Message struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []MessageAlert    `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
}

// MessageAlert is one alert inside a Message.
type MessageAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// newMessage builds the payload for alerts (already sorted).
func newMessage(receiver, groupKey, externalURL string, groupLabels map[string]string, alerts []*Alert) *Message {
	m := &Message{
		Receiver:    receiver,
		Status:      StateResolved,
		GroupLabels: maps.Clone(groupLabels),
		ExternalURL: externalURL,
		Version:     "4",
		GroupKey:    groupKey,
	}
	if m.GroupLabels == nil {
		m.GroupLabels = map[string]string{}
	}
	var lbls, anns []map[string]string
	for _, a := range alerts {
		status := StateFiring
		endsAt := time.Time{}
		if a.State == StateResolved {
			status = StateResolved
			endsAt = a.EndsAt
		} else {
			m.Status = StateFiring
		}
		an := maps.Clone(a.Annotations)
		if an == nil {
			an = map[string]string{}
		}
		m.Alerts = append(m.Alerts, MessageAlert{
			Status:       status,
			Labels:       maps.Clone(a.Labels),
			Annotations:  an,
			StartsAt:     a.StartsAt,
			EndsAt:       endsAt,
			GeneratorURL: a.GeneratorURL,
			Fingerprint:  a.ID,
		})
		lbls = append(lbls, a.Labels)
		anns = append(anns, an)
	}
	m.CommonLabels = common(lbls)
	m.CommonAnnotations = common(anns)
	return m
}

// common keeps the pairs every set shares.
func common(sets []map[string]string) map[string]string {
	out := map[string]string{}
	if len(sets) == 0 {
		return out
	}
	for k, v := range sets[0] {
		all := true
		for _, s := range sets[1:] {
			if w, ok := s[k]; !ok || w != v {
				all = false
				break
			}
		}
		if all {
			out[k] = v
		}
	}
	return out
}
