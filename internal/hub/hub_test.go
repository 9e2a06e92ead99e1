package hub

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func note(topic string, n int) store.LiveUpdate {
	return store.LiveUpdate{Topic: topic, Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func subscribe(t *testing.T, c *Client, patterns ...string) {
	t.Helper()
	for _, s := range patterns {
		p, err := ParsePattern(s)
		require.NoError(t, err)
		c.Subscribe(p)
	}
}

// drain returns the messages queued for c so far.
func drain(c *Client) []Message {
	var out []Message
	for {
		select {
		case b := <-c.Messages():
			var m Message
			if err := json.Unmarshal(b, &m); err != nil {
				panic(err)
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

func TestPublishDeliversToMatchingSubscribers(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	statusAll, _ := h.Register("k1")
	oneDevice, _ := h.Register("k2")
	events, _ := h.Register("k3")
	nothing, _ := h.Register("k4")
	subscribe(t, statusAll, "device.*.status")
	subscribe(t, oneDevice, "device."+devA+".*")
	subscribe(t, events, "events", "operations")

	h.Publish(note("device."+devA+".status", 1))
	h.Publish(note("device."+devB+".status", 2))
	h.Publish(note("device."+devA+".metrics", 3))
	h.Publish(note("events", 4))
	h.Publish(note("not.a.topic", 5))

	numbers := func(ms []Message) []string {
		var out []string
		for _, m := range ms {
			require.Equal(t, TypeUpdate, m.Type)
			out = append(out, m.Topic+"="+string(m.Data))
		}
		return out
	}
	require.Equal(t, []string{"device." + devA + ".status={\"n\":1}", "device." + devB + ".status={\"n\":2}"}, numbers(drain(statusAll)))
	require.Equal(t, []string{"device." + devA + ".status={\"n\":1}", "device." + devA + ".metrics={\"n\":3}"}, numbers(drain(oneDevice)))
	require.Equal(t, []string{"events={\"n\":4}"}, numbers(drain(events)))
	require.Empty(t, drain(nothing))

	st := h.Stats()
	require.Equal(t, 4, st.Clients)
	require.Equal(t, uint64(4), st.Published)
	require.Equal(t, uint64(1), st.Malformed, "the unknown topic")
	require.Equal(t, uint64(5), st.Delivered)

	// Unsubscribing stops delivery; unknown patterns are ignored.
	p, _ := ParsePattern("device.*.status")
	q, _ := ParsePattern("operations")
	require.Equal(t, 0, statusAll.Unsubscribe(p, q))
	h.Publish(note("device."+devA+".status", 6))
	require.Empty(t, drain(statusAll))
	require.Len(t, drain(oneDevice), 1)
}

func TestSubscribeIsIdempotent(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	c, err := h.Register("k")
	require.NoError(t, err)
	p, _ := ParsePattern("device." + devA + ".status")
	same, _ := ParsePattern("device." + devA + ".status")
	require.Equal(t, 1, c.Subscribe(p, same))
	require.Equal(t, 1, c.Subscribe(p))
	h.Publish(note("device."+devA+".status", 1))
	require.Len(t, drain(c), 1, "one message even with a pattern subscribed twice")
}

func TestSlowConsumerIsDroppedWithoutBlocking(t *testing.T) {
	t.Parallel()
	h := New(Options{SendBuffer: 8})
	slow, _ := h.Register("slow")
	fast, _ := h.Register("fast")
	subscribe(t, slow, "device.*.*")
	subscribe(t, fast, "device.*.*")

	done := make(chan struct{})
	var got int
	go func() {
		defer close(done)
		for range 100 {
			<-fast.Messages()
			got++
		}
	}()
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range 100 {
			h.Publish(note("device."+devA+".metrics", i))
			// The fast reader keeps up; the slow one never reads.
			for len(fast.Messages()) > 4 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-published:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a client that does not read")
	}
	<-done
	require.Equal(t, 100, got)

	select {
	case <-slow.Done():
	default:
		t.Fatal("the slow client was not dropped")
	}
	require.ErrorIs(t, slow.Err(), ErrSlowConsumer)
	require.NoError(t, fast.Err())
	require.False(t, slow.Send([]byte("{}")), "a dropped client takes no more messages")
	require.Equal(t, uint64(1), h.Stats().Dropped)
	h.Unregister(slow)
	h.Unregister(slow)
	require.Equal(t, 1, h.Stats().Clients)
}

func TestConnectionLimitPerKey(t *testing.T) {
	t.Parallel()
	h := New(Options{MaxPerKey: 2})
	a, err := h.Register("tok")
	require.NoError(t, err)
	_, err = h.Register("tok")
	require.NoError(t, err)
	_, err = h.Register("tok")
	require.ErrorIs(t, err, ErrTooManyConnections)
	_, err = h.Register("other")
	require.NoError(t, err, "the limit is per key")
	h.Unregister(a)
	_, err = h.Register("tok")
	require.NoError(t, err, "a closed connection frees its slot")

	unlimited := New(Options{MaxPerKey: -1})
	for range 50 {
		_, err := unlimited.Register("tok")
		require.NoError(t, err)
	}
}

func TestCloseDropsEveryClient(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	a, _ := h.Register("a")
	b, _ := h.Register("b")
	h.Close()
	for _, c := range []*Client{a, b} {
		<-c.Done()
		require.ErrorIs(t, c.Err(), ErrShutdown)
	}
	_, err := h.Register("c")
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, uint64(0), h.Stats().Dropped, "shutdown is not counted as slow consumers")
}

// TestConcurrentSubscribeAndPublish runs subscriptions, publishes and registrations at once under -race.
func TestConcurrentSubscribeAndPublish(t *testing.T) {
	t.Parallel()
	h := New(Options{SendBuffer: 1 << 16, MaxPerKey: -1})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.Register("k")
			if err != nil {
				panic(err)
			}
			defer h.Unregister(c)
			p, _ := ParsePattern("device.*.status")
			q, _ := ParsePattern("events")
			for j := range 200 {
				c.Subscribe(p, q)
				if (i+j)%3 == 0 {
					c.Unsubscribe(p)
				}
				drain(c)
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 500 {
				h.Publish(note("device."+devB+".status", j))
				h.Publish(note("events", j))
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 0, h.Stats().Clients)
	require.Equal(t, uint64(2000), h.Stats().Published)
}

// A token.revoked notification drops exactly that token's clients with ErrTokenRevoked, tells the OnRevoke hooks,
// and is never delivered as an update.
func TestRevocationDropsTheTokensClients(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	victim1, err := h.Register("victim")
	require.NoError(t, err)
	victim2, err := h.Register("victim")
	require.NoError(t, err)
	other, err := h.Register("other")
	require.NoError(t, err)
	subscribe(t, other, "events", "operations", "device.*.*")
	require.ElementsMatch(t, []string{"victim", "other"}, h.Keys())
	var heard []string
	h.OnRevoke(func(key string) { heard = append(heard, key) })

	h.publishRaw(`{"topic":"token.revoked","data":{"id":"victim"}}`)
	for _, c := range []*Client{victim1, victim2} {
		<-c.Done()
		require.ErrorIs(t, c.Err(), ErrTokenRevoked)
		require.Equal(t, "token revoked", c.Err().Error(), "the close reason clients read")
	}
	require.NoError(t, other.Err())
	require.Empty(t, drain(other), "not an update")
	require.Equal(t, []string{"victim"}, heard)
	require.Zero(t, h.Stats().Malformed)

	require.Equal(t, 1, h.DropKey("other", ErrTokenExpired))
	require.ErrorIs(t, other.Err(), ErrTokenExpired)
	require.Zero(t, h.DropKey("other", ErrTokenExpired), "a client is dropped once")
}
