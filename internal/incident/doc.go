// Package incident is tug's incident room: it turns firing alerts into
// incidents people can work, and works them itself where tug.yaml lets it.
//
// Lifecycle. A firing alert of an opening severity (incidents.open_for,
// or its notify route's open_for; P0 and P1 by default) opens an
// incident, or joins the open incident of its service opened within
// incidents.group_window; `tug incident open` opens one by hand. An
// incident moves detected → acknowledged (triaged: severity, impact) →
// mitigating → resolved → closed (its post-mortem done); each transition
// is one store transaction that records when and by whom, so two people
// acknowledging at once are serialised and both are in the timeline. An
// incident whose alerts have all resolved resolves itself.
//
// Timeline. Beside the transitions, notes and actions, tug gathers what
// it knows about the service in the hour before the incident and during
// it: the alerts with their values, every change a ChangeSource reports
// (deploys, rollbacks, approvals, config applies, flag changes, restarts
// and crash loops), the most frequent new error lines of its logs, and
// the notifications sent. The deploy that started shortly before the
// first alert is named the suspected cause.
//
// Acting. Remediation (services.NAME.remediation, alerts[].remediation)
// rolls back a deploy the alert followed within its window, restarts an
// instance or scales out, through Actions; guards allow one automatic
// action of a kind per service per hour and none while a release awaits
// approval; mode propose only posts the action. Runbooks (Markdown in
// runbooks/, with steps in fenced blocks marked `step`) run step by step,
// each step's command, masked output, exit code and duration recorded.
//
// Paging. Incident notifications go through the alert room's channels
// (Notifier), level by level of incidents.escalation each ack_timeout an
// incident stays unacknowledged, with a link that acknowledges it.
//
// State lives in the store (incidents, their timelines, actions, runbook
// runs), written before anything acts, so a killed server loses nothing;
// the room never imports api, server or cli.
package incident
