package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// published collects the tail messages NOTIFY delivers on one topic.
type published struct {
	mu   sync.Mutex
	msgs []activities.TailMessage
}

func (p *published) texts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		for _, l := range m.Lines {
			out = append(out, l.Text)
		}
	}
	return out
}

func (p *published) events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		if m.Event != "" {
			out = append(out, m.Event)
		}
	}
	return out
}

// listen collects the tail messages published on topic until the test ends.
func listen(t *testing.T, acts *activities.Activities, topic string) *published {
	t.Helper()
	conn, err := acts.DB.Acquire(context.Background())
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), "LISTEN "+store.UpdatesChannel)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; conn.Release() })
	p := &published{}
	go func() {
		defer close(done)
		for {
			n, err := conn.Conn().WaitForNotification(ctx)
			if err != nil {
				return
			}
			var u store.LiveUpdate
			if json.Unmarshal([]byte(n.Payload), &u) != nil || u.Topic != topic {
				continue
			}
			var m activities.TailMessage
			if json.Unmarshal(u.Data, &m) == nil {
				p.mu.Lock()
				p.msgs = append(p.msgs, m)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// appendJournal writes more entries into the test journal, as journald would while the tail follows it.
func (ld *logDevice) appendJournal(t *testing.T, usec int64, entries ...[2]string) {
	t.Helper()
	var b bytes.Buffer
	for i, e := range entries {
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n"+
			"PRIORITY=%s\n_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=test\nMESSAGE=%s\n\n", usec+int64(i), usec+int64(i)-1764800000000000,
			e[0][:1], e[0][1:], e[1])
	}
	cmd := exec.Command(journalRemote(t), "--output="+ld.journalFile, "-")
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
}

// TestTailJournaldOverSSH follows a real journal file with the real journalctl over a real sshd: the unit and
// priority filters apply on the device and grep in the reader; entries written while it follows arrive; it ends
// when its watcher row goes; and a retry with heartbeat details resumes after the cursor, with a gap marker and
// without repeating an entry.
func TestTailJournaldOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	ld, acts, dev := startLogDevice(t)
	activities.SetJournalTailCommand(acts, func(f journal.Filter, cursor string) string {
		return "PATH=" + ld.bin + ":$PATH\n" + journal.TailCommand(f, cursor)
	})
	ctx := context.Background()
	topic := vocab.TopicDeviceLogs(dev.ID.String()) + "?priority=3&unit=nginx.service"
	in := activities.LogTailInput{SourceID: "log-tail/test/" + uuid.NewString(), DeviceID: dev.ID.String(), Topic: topic,
		Query: journal.Query{Unit: "nginx", Priority: "err"}, IdleAfter: 30 * time.Second}
	watch := func() {
		_, err := acts.DB.Exec(ctx, `INSERT INTO log_tail_watchers (source, replica, token_id, device_id, clients)
			VALUES ($1, $2, $3, $4, 1)`, in.SourceID, uuid.New(), uuid.New(), dev.ID)
		require.NoError(t, err)
	}
	leave := func() {
		_, err := acts.DB.Exec(ctx, `DELETE FROM log_tail_watchers WHERE source = $1`, in.SourceID)
		require.NoError(t, err)
	}
	run := func(resume *activities.TailResume) <-chan error {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(acts)
		if resume != nil {
			env.SetHeartbeatDetails(*resume)
		}
		done := make(chan error, 1)
		go func() {
			_, err := env.ExecuteActivity(acts.TailLogs, in)
			done <- err
		}()
		return done
	}
	stopped := func(done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the tail did not end after its last watcher left")
		}
	}

	// Nobody watches: the tail ends at once, without touching the device.
	stopped(run(nil))

	pub := listen(t, acts, topic)
	watch()
	done := run(nil)
	const failed = "connect() failed (111: Connection refused) while connecting to upstream"
	const timedOut = "upstream timed out\nsecond line of the same message"
	require.Eventually(t, func() bool { return len(pub.texts()) >= 2 }, time.Minute, 50*time.Millisecond)
	require.Equal(t, []string{failed, timedOut}, pub.texts(), "the newest entries of nginx.service at err or worse")
	require.Equal(t, []string{activities.TailEventStarted}, pub.events())
	ld.appendJournal(t, 1764870100000000, [2]string{"3nginx.service", "third failure"}, [2]string{"3smbd.service", "not nginx"},
		[2]string{"6nginx.service", "just info"})
	require.Eventually(t, func() bool { return len(pub.texts()) >= 3 }, time.Minute, 50*time.Millisecond)
	// A line whose JSON is many times its length ('<' is escaped as \u003c) is clipped to fit a NOTIFY payload,
	// not replaced by the publish path's {"truncated":true}.
	ld.appendJournal(t, 1764870200000000, [2]string{"3nginx.service", strings.Repeat("<", 20000)})
	require.Eventually(t, func() bool { return len(pub.texts()) >= 4 }, time.Minute, 50*time.Millisecond)
	leave()
	stopped(done)
	texts := pub.texts()
	require.Equal(t, []string{failed, timedOut, "third failure"}, texts[:3])
	require.NotEmpty(t, texts[3])
	require.Equal(t, strings.Repeat("<", len(texts[3])), texts[3])
	pub.mu.Lock()
	for _, m := range pub.msgs {
		require.True(t, m.Event != "" || len(m.Lines) > 0, "a message lost to the payload limit: %+v", m)
		for _, l := range m.Lines {
			require.LessOrEqual(t, len(l.Text), 1000, "clipped to fit the payload")
			if strings.HasPrefix(l.Text, "<") {
				require.True(t, l.Cut)
			}
		}
	}
	pub.mu.Unlock()

	// A retry resumes after the last published entry's cursor: the entries after it, once each, after a gap marker.
	out, err := exec.Command(ld.bin+"/journalctl", "-o", "json", "-u", "nginx.service", "-p", "3", "-n", "1000").Output()
	require.NoError(t, err)
	first, err := journal.ParseJSONLine(bytes.SplitN(out, []byte("\n"), 2)[0])
	require.NoError(t, err)
	require.Equal(t, failed, first.Message)
	pub2 := listen(t, acts, topic)
	watch()
	done = run(&activities.TailResume{Cursor: first.Cursor, StartedAt: time.Now().Add(-time.Minute), LastAt: time.Now().Add(-10 * time.Second)})
	require.Eventually(t, func() bool { return len(pub2.texts()) >= 2 }, time.Minute, 50*time.Millisecond)
	leave()
	stopped(done)
	require.Equal(t, []string{timedOut, "third failure"}, pub2.texts()[:2])
	require.Equal(t, activities.TailEventGap, pub2.events()[0])
}
