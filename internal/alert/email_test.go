package alert

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// fakeSMTP is a minimal SMTP server on loopback that records one session.
type fakeSMTP struct {
	mu   sync.Mutex
	auth string
	from string
	to   []string
	data string
	addr *net.TCPAddr
}

func newFakeSMTP(t *testing.T) *fakeSMTP {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeSMTP{addr: l.Addr().(*net.TCPAddr)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		f.mu.Lock()
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-fake\r\n250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN"):]))
			f.auth = strings.ReplaceAll(string(b), "\x00", "|")
			say("235 ok")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			f.from = line[len("MAIL FROM:"):]
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			f.to = append(f.to, line[len("RCPT TO:"):])
			say("250 ok")
		case cmd == "DATA":
			say("354 go")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			f.data = b.String()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			f.mu.Unlock()
			return
		default:
			say("250 ok")
		}
		f.mu.Unlock()
	}
}

func TestEmailChannel(t *testing.T) {
	t.Parallel()
	f := newFakeSMTP(t)
	ch := &EmailChannel{
		Config: config.EmailChannel{To: []string{"oncall@example.com"}, SMTP: config.SMTP{
			Host: "127.0.0.1", Port: f.addr.Port, From: "tug@example.com", Username: "tug", Password: "SMTP_PASSWORD"}},
		Secret: func(_ context.Context, name string) (string, error) {
			if name != "SMTP_PASSWORD" {
				return "", errors.New("no such secret")
			}
			return "s3cret", nil
		},
		Now: func() time.Time { return testBase },
	}
	m := newMessage("mail", "{}:{}", "", nil, []*Alert{{ID: "abc", Name: "QueueFull", State: StateFiring,
		Labels: map[string]string{"alertname": "QueueFull", "severity": "P1"}, Annotations: map[string]string{"summary": "queue deep"},
		StartsAt: testBase}})
	if err := ch.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if f.auth != "|tug|s3cret" || f.from != "<tug@example.com>" || len(f.to) != 1 || f.to[0] != "<oncall@example.com>" {
		t.Fatalf("session: auth %q from %q to %v", f.auth, f.from, f.to)
	}
	for _, want := range []string{"Subject: [FIRING:1] QueueFull\r\n", "[FIRING] P1 QueueFull", "queue deep"} {
		if !strings.Contains(f.data, want) {
			t.Errorf("mail lacks %q:\n%s", want, f.data)
		}
	}
	f.mu.Unlock()
	// A missing secret is permanent: no retry can fix it.
	ch.Config.SMTP.Password = "OTHER"
	if err := ch.Send(t.Context(), m); !errors.Is(err, ErrPermanent) {
		t.Fatalf("missing secret: %v", err)
	}
}
