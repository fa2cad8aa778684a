package config

import (
	"encoding/json"
	"strings"
	"testing"
)

// AsWritten shows the file as written: references unexpanded, merges
// expanded, secret-bearing keys masked wherever they stand.
func TestAsWrittenMasksSecretFields(t *testing.T) {
	t.Parallel()
	src := `version: 1
x-relay: &relay {host: smtp.example.com, username: mailer, from: tug@example.com}
services:
  web:
    run: ./web
    env: {DATABASE_URL: "${DATABASE_URL}", PLAIN: hello}
notify:
  channels:
    - {name: chat, slack: {url: "${SLACK_URL}"}}
    - {name: hook, webhook: {url: "https://hooks.example.com/T0/B0/literal-token"}}
    - name: mail
      email: {to: [ops@example.com], smtp: {<<: *relay, port: 2525}}
`
	env := func(k string) (string, bool) {
		return map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/app", "SLACK_URL": "https://hooks.slack.com/s3cr3t"}[k], true
	}
	if _, err := Parse("tug.yaml", []byte(src), LoadOptions{LookupEnv: env}); err != nil {
		t.Fatal(err)
	}
	doc, err := AsWritten([]byte(src), "MASKED")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(doc)
	out := string(b)
	for _, leak := range []string{"hunter2", "s3cr3t", "literal-token", "mailer"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q shown: %s", leak, out)
		}
	}
	for _, want := range []string{`"DATABASE_URL":"${DATABASE_URL}"`, `"PLAIN":"hello"`, `"slack":{"url":"MASKED"}`,
		`"webhook":{"url":"MASKED"}`, `"username":"MASKED"`, `"host":"smtp.example.com"`, `"port":2525`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
}
