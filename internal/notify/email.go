package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds one SMTP session: dial, greeting, TLS, login and the message.
const smtpTimeout = 30 * time.Second

// sendEmail delivers m over SMTP with go-mail, which builds a correct MIME message (encoded headers, Date,
// Message-ID) and speaks STARTTLS and SMTP AUTH. The connection is dialled through the same address guard as the
// HTTP channels, and TLS is required: STARTTLS mode refuses a server that does not offer it rather than sending
// the password and the alert in the clear.
func (s *Sender) sendEmail(ctx context.Context, ch Channel, m Message) error {
	c := ch.Config
	if errs := ValidateConfig(TypeEmail, c); len(errs) > 0 {
		return fmt.Errorf("send to email channel: bad settings: %v", errs)
	}
	if err := s.Targets.CheckHost(ctx, nil, c.SMTPHost); err != nil {
		return fmt.Errorf("send to email channel: %w", err)
	}
	host := strings.Trim(c.SMTPHost, "[]")
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: s.RootCAs}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: s.Targets.control}
	dial := dialer.DialContext
	policy := mail.TLSMandatory
	if c.SMTPSecurity == SMTPTLS {
		// go-mail leaves TLS to a custom dialler; with the session already encrypted there is no STARTTLS to
		// offer, and "opportunistic" then only records that the connection is encrypted (which enables login).
		td := &tls.Dialer{NetDialer: dialer, Config: tlsConf}
		dial = td.DialContext
		policy = mail.TLSOpportunistic
	}
	opts := []mail.Option{mail.WithPort(c.port()), mail.WithTimeout(smtpTimeout), mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(tlsConf), mail.WithDialContextFunc(dial)}
	if c.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(c.Username),
			mail.WithPassword(ch.Token))
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("send to email channel: %w", err)
	}
	msg := mail.NewMsg()
	if err := msg.From(c.From); err != nil {
		return fmt.Errorf("send to email channel: from: %w", err)
	}
	if err := msg.To(c.To...); err != nil {
		return fmt.Errorf("send to email channel: to: %w", err)
	}
	msg.Subject(m.Title)
	msg.SetDate()
	// One Message-ID per delivery: a message sent again after a lost answer carries the same ID, so mail
	// clients and servers that deduplicate by it show it once.
	domain := "infrastructor"
	if at := strings.LastIndexByte(c.From, '@'); at >= 0 {
		domain = c.From[at+1:]
	}
	msg.SetMessageIDWithValue("infrastructor-delivery-" + strconv.FormatInt(m.DeliveryID, 10) + "@" + domain)
	msg.SetGenHeader(HeaderDelivery, strconv.FormatInt(m.DeliveryID, 10))
	msg.SetBodyString(mail.TypeTextPlain, emailBody(m))
	return classifySMTP(client.DialAndSendWithContext(ctx, msg), ch.Token)
}

// emailBody is the plain-text body: the message, then the alert's facts.
func emailBody(m Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	b.WriteString("\n\n")
	for _, kv := range [][2]string{{"Kind", m.Kind}, {"Severity", m.Severity}, {"Device", m.DeviceName},
		{"Rule", m.RuleName}, {"Subject", m.Subject}, {"Alert", m.AlertID}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
		}
	}
	if !m.Time.IsZero() {
		fmt.Fprintf(&b, "Time: %s\n", m.Time.UTC().Format(time.RFC3339))
	}
	b.WriteString("\n-- \nSent by Infrastructor (delivery " + strconv.FormatInt(m.DeliveryID, 10) + ")\n")
	return b.String()
}

// classifySMTP maps an SMTP session's error to the sender's classes: a 4xx reply or a network fault is
// temporary; a 5xx reply (a refused login, an unknown recipient), a TLS failure or a server without STARTTLS is a
// rejection an operator must fix. The password is never part of the text.
func classifySMTP(err error, password string) error {
	if err == nil {
		return nil
	}
	text := redact(err.Error(), password)
	if errors.Is(err, ErrForbiddenTarget) {
		return fmt.Errorf("send to email channel: %w", err)
	}
	var se *mail.SendError
	if errors.As(err, &se) {
		if se.IsTemp() {
			return &TemporaryError{Err: errors.New(text)}
		}
		return &RejectedError{Status: se.ErrorCode(), Body: text}
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		if tp.Code >= 400 && tp.Code < 500 {
			return &TemporaryError{Err: errors.New(text)}
		}
		return &RejectedError{Status: tp.Code, Body: text}
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) {
		return &RejectedError{Body: "the SMTP server's certificate is not trusted: " + text}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) {
		return &TemporaryError{Err: errors.New(text)}
	}
	if strings.Contains(text, "STARTTLS") {
		// go-mail has no error value for a server that does not offer STARTTLS; waiting will not make it.
		return &RejectedError{Body: text}
	}
	// Anything else (a dropped connection mid-session, an unexpected reply) may pass.
	return &TemporaryError{Err: errors.New(text)}
}
