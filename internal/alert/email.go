package alert

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// EmailChannel sends each notification as a plain-text mail over SMTP
// (STARTTLS when the server offers it; PLAIN auth with the password read
// from a secret when a username is set).
type EmailChannel struct {
	Config config.EmailChannel
	// Secret reads a secret's value by name (the SMTP password).
	Secret func(ctx context.Context, name string) (string, error)
	// Now dates the mail; default time.Now.
	Now func() time.Time
}

var _ Channel = (*EmailChannel)(nil)

// Send implements Channel.
func (e *EmailChannel) Send(ctx context.Context, m *Message) error {
	c := e.Config
	port := c.SMTP.Port
	if port == 0 {
		port = 25
	}
	addr := net.JoinHostPort(c.SMTP.Host, strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cl, err := smtp.NewClient(conn, c.SMTP.Host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok {
		if err := cl.StartTLS(nil); err != nil {
			return err
		}
	}
	if c.SMTP.Username != "" {
		pw := ""
		if c.SMTP.Password != "" {
			if e.Secret == nil {
				return fmt.Errorf("%w: smtp password secret %q: no secret source", ErrPermanent, c.SMTP.Password)
			}
			pw, err = e.Secret(ctx, c.SMTP.Password)
			if err != nil {
				return fmt.Errorf("%w: smtp password secret %q: %v", ErrPermanent, c.SMTP.Password, err)
			}
		}
		if err := cl.Auth(smtp.PlainAuth("", c.SMTP.Username, pw, c.SMTP.Host)); err != nil {
			return err
		}
	}
	if err := cl.Mail(c.SMTP.From); err != nil {
		return err
	}
	for _, to := range c.To {
		if err := cl.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	if _, err := w.Write([]byte(mailBody(c.SMTP.From, c.To, now(), m))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// mailBody renders m as an RFC 5322 message with CRLF line ends.
func mailBody(from string, to []string, date time.Time, m *Message) string {
	var b strings.Builder
	subject := strings.NewReplacer("\r", " ", "\n", " ").Replace(messageTitle(m))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, strings.Join(to, ", "), subject, date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for _, a := range m.Alerts {
		fmt.Fprintf(&b, "[%s] %s %s\r\n", strings.ToUpper(a.Status), a.Labels[LabelSeverity], a.Labels[LabelAlertName])
		if s := alertSummary(a); s != "" {
			fmt.Fprintf(&b, "  %s\r\n", s)
		}
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s = %s\r\n", k, a.Labels[k])
		}
		fmt.Fprintf(&b, "  since %s\r\n", a.StartsAt.Format(time.RFC3339))
		if a.GeneratorURL != "" {
			fmt.Fprintf(&b, "  %s\r\n", a.GeneratorURL)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}
