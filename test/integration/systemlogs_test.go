package integration

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestSystemLogSearchREST: GET /devices/{id}/logs names every invalid field, and a valid search runs through the
// SystemLogs workflow over SSH, answers with the source and entries, and is audited as a read of sensitive data.
// The sources themselves (real journal files, syslog files, logread) are tested in package activities.
func TestSystemLogSearchREST(t *testing.T) {
	remote := testenv.StartSSHD(t, testenv.SSHDOptions{})
	s := startStack(t, []ssh.Signer{remote.ClientSigner})
	dev := s.createDevice("searched", remote.Host, remote.Port, remote.User, store.PolicyTrustFirstUse)
	path := "/api/v1/devices/" + dev.ID.String() + "/logs"

	var bad struct {
		Error struct {
			Code   string            `json:"code"`
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	q := url.Values{"unit": {"nginx;id"}, "priority": {"loud"}, "since": {"yesterday"}, "grep": {"a\nb"}, "boot": {"--all"},
		"limit": {"5001"}}
	require.Equal(t, 422, s.do("GET", path+"?"+q.Encode(), nil, &bad))
	require.Equal(t, "invalid_input", bad.Error.Code)
	require.ElementsMatch(t, []string{"unit", "priority", "since", "grep", "boot", "limit"}, keys(bad.Error.Fields))
	q = url.Values{"since": {"2026-12-03T10:00:00Z"}, "until": {"2026-12-02T10:00:00Z"}}
	require.Equal(t, 422, s.do("GET", path+"?"+q.Encode(), nil, &bad))
	require.Contains(t, bad.Error.Fields, "until")

	var res struct {
		DeviceID  string          `json:"device_id"`
		Source    string          `json:"source"`
		Entries   []journal.Entry `json:"entries"`
		Truncated bool            `json:"truncated"`
	}
	q = url.Values{"priority": {"err"}, "since": {"1h"}, "limit": {"5"}, "grep": {"$(touch /tmp/pwned-by-logs)"}}
	require.Eventually(t, func() bool { return s.do("GET", path+"?"+q.Encode(), nil, &res) == 200 }, time.Minute, time.Second)
	require.Equal(t, dev.ID.String(), res.DeviceID)
	require.Contains(t, []string{journal.SourceJournald, journal.SourceSyslog, journal.SourceMessages, journal.SourceLogread,
		journal.SourceNone}, res.Source)
	require.NotNil(t, res.Entries)
	require.LessOrEqual(t, len(res.Entries), 5)
	require.NoFileExists(t, "/tmp/pwned-by-logs")

	reads, _, err := store.ListAudit(context.Background(), s.DB, store.AuditFilter{Action: "read.system_logs"})
	require.NoError(t, err)
	require.NotEmpty(t, reads)
	require.Equal(t, "device/"+dev.ID.String()+"/logs", reads[0].Target)
	require.NotNil(t, reads[0].TokenID)
	require.Contains(t, string(reads[0].Detail), `"priority": "err"`)
	require.NotContains(t, string(reads[0].Detail), "pwned", "the grep text is not copied into the audit log")
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
