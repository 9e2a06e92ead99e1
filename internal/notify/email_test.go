package notify

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/notify/notifytest"
)

func emailChannel(s *notifytest.SMTPServer, security, user, password string) Channel {
	return Channel{Type: TypeEmail, Token: password, Config: Config{SMTPHost: s.Host(), SMTPPort: s.Port(),
		SMTPSecurity: security, Username: user, From: "infrastructor@example.com",
		To: []string{"ops@example.com", "me@example.org"}}}
}

// TestEmail: a message goes out over STARTTLS (or implicit TLS) with a login, to every recipient, with the
// delivery's Message-ID and a subject in any script.
func TestEmail(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		security string
		opts     notifytest.SMTPOptions
	}{
		{SMTPStartTLS, notifytest.SMTPOptions{Username: "infra", Password: "s3cret pass"}},
		{SMTPTLS, notifytest.SMTPOptions{Username: "infra", Password: "s3cret pass", ImplicitTLS: true}},
		{"", notifytest.SMTPOptions{}}, // no login; STARTTLS by default
	} {
		t.Run(tt.security+"/"+tt.opts.Username, func(t *testing.T) {
			srv := notifytest.NewSMTP(t, tt.opts)
			s := &Sender{Targets: Targets{AllowLoopback: true}, RootCAs: srv.Roots}
			m := msg
			m.Title = "FIRING critical: nas — Temperatur über 90 °C"
			m.DeviceName, m.RuleName = "nas", "temperature"
			require.NoError(t, s.Send(ctx, emailChannel(srv, tt.security, tt.opts.Username, tt.opts.Password), m))
			mails := srv.Mails()
			require.Len(t, mails, 1)
			got := mails[0]
			require.True(t, got.TLS, "sent over TLS")
			require.Equal(t, tt.opts.Username, got.User)
			require.Equal(t, "infrastructor@example.com", got.From)
			require.Equal(t, []string{"ops@example.com", "me@example.org"}, got.To)
			require.Equal(t, []string{m.Title}, srv.Subjects())
			require.Equal(t, "<infrastructor-delivery-42@example.com>", got.Msg.Header.Get("Message-Id"))
			require.Equal(t, "42", got.Msg.Header.Get(HeaderDelivery))
			require.Contains(t, got.Data, "cpu at 97.0%")
			require.Contains(t, got.Data, "Device: nas")
		})
	}
}

// TestEmailFailures: a wrong password and an untrusted certificate are rejections; a server without STARTTLS is
// refused before anything (the password above all) is sent; a 4xx answer and a server that is down are
// temporary; loopback needs the allowance. The password never appears in an error.
func TestEmailFailures(t *testing.T) {
	ctx := context.Background()
	srv := notifytest.NewSMTP(t, notifytest.SMTPOptions{Username: "infra", Password: "right-pass"})
	s := &Sender{Targets: Targets{AllowLoopback: true}, RootCAs: srv.Roots}

	err := s.Send(ctx, emailChannel(srv, SMTPStartTLS, "infra", "Wrong-Pass-77"), msg)
	var rej *RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, 535, rej.Status)
	require.NotContains(t, err.Error(), "Wrong-Pass-77")

	err = (&Sender{Targets: Targets{AllowLoopback: true}}).Send(ctx, emailChannel(srv, SMTPStartTLS, "infra", "right-pass"), msg)
	require.ErrorAs(t, err, &rej, "a self-signed certificate is not trusted without its root")
	require.Contains(t, err.Error(), "certificate")

	err = (&Sender{}).Send(ctx, emailChannel(srv, SMTPStartTLS, "infra", "right-pass"), msg)
	require.ErrorIs(t, err, ErrForbiddenTarget)
	require.Empty(t, srv.Mails())

	plain := notifytest.NewSMTP(t, notifytest.SMTPOptions{NoTLS: true, Username: "infra", Password: "right-pass"})
	err = s.Send(ctx, emailChannel(plain, SMTPStartTLS, "infra", "right-pass"), msg)
	require.ErrorAs(t, err, &rej, "no STARTTLS: nothing is sent in the clear")
	require.Contains(t, err.Error(), "STARTTLS")
	require.Empty(t, plain.Mails())

	busy := notifytest.NewSMTP(t, notifytest.SMTPOptions{TempFailRcpt: 1})
	s.RootCAs = busy.Roots
	err = s.Send(ctx, emailChannel(busy, SMTPStartTLS, "", ""), msg)
	var temp *TemporaryError
	require.ErrorAs(t, err, &temp, "451 is temporary")
	require.NoError(t, s.Send(ctx, emailChannel(busy, SMTPStartTLS, "", ""), msg))
	require.Len(t, busy.Mails(), 1)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	ch := emailChannel(busy, SMTPStartTLS, "", "")
	ch.Config.SMTPPort, _ = strconv.Atoi(port)
	err = s.Send(ctx, ch, msg)
	require.ErrorAs(t, err, &temp, "connection refused is temporary")

	ch = emailChannel(busy, SMTPStartTLS, "", "")
	ch.Config.SMTPHost = "169.254.169.254"
	require.ErrorIs(t, s.Send(ctx, ch, msg), ErrForbiddenTarget)
	ch.Config.SMTPHost = "metadata.google.internal"
	require.ErrorIs(t, s.Send(ctx, ch, msg), ErrForbiddenTarget)
}

// TestEmailDownThenUp: the server goes away and comes back on the same address; the send that failed meanwhile
// is temporary and the next one lands once.
func TestEmailDownThenUp(t *testing.T) {
	ctx := context.Background()
	srv := notifytest.NewSMTP(t, notifytest.SMTPOptions{})
	s := &Sender{Targets: Targets{AllowLoopback: true}, RootCAs: srv.Roots}
	ch := emailChannel(srv, "", "", "")
	srv.Down()
	var temp *TemporaryError
	require.ErrorAs(t, s.Send(ctx, ch, msg), &temp)
	srv.Up()
	require.NoError(t, s.Send(ctx, ch, msg))
	require.Len(t, srv.Mails(), 1)
	require.True(t, strings.HasPrefix(srv.Subjects()[0], "nas: cpu"))
}
