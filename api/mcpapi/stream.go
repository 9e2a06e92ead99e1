package mcpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// errClientGone is what a streamed write returns once the client has hung up.
var errClientGone = errors.New("client closed the connection")

// streamResponse is a response writer for a handler that may stream (server-sent events) through Fiber.
//
// Fiber's net/http adaptor buffers the whole response (gofiber/fiber#3421), so MCP progress notifications would
// reach the client only together with the tool's result. Instead the handler runs in its own goroutine and writes
// here; serveStreaming waits until the handler either finishes (a plain response, sent as is) or flushes (a
// stream: status and headers go out at once, and every later Flush forwards what was written through fasthttp's
// body stream writer, flushing the connection).
type streamResponse struct {
	header http.Header

	mu      sync.Mutex
	status  int
	buf     bytes.Buffer
	gone    bool          // the client hung up: writes fail from now on
	flushed chan struct{} // closed at the first Flush
	once    sync.Once
	wake    chan struct{} // one pending "there is something to forward"
}

func newStreamResponse() *streamResponse {
	return &streamResponse{header: http.Header{}, flushed: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// Header is the response header map; changes after the first Flush are not sent.
func (w *streamResponse) Header() http.Header { return w.header }

// WriteHeader records the status; only the first call counts, as in net/http.
func (w *streamResponse) WriteHeader(status int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		w.status = status
	}
}

// Write buffers p until the next Flush (or the handler's end).
func (w *streamResponse) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone {
		return 0, errClientGone
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(p)
}

// Flush commits the response as a stream and forwards what was written so far.
func (w *streamResponse) Flush() {
	w.once.Do(func() { close(w.flushed) })
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending; it will forward this write too
	}
}

// CanStream tells mcp-go that Flush really delivers bytes, so it may answer with server-sent events.
func (w *streamResponse) CanStream() bool { return true }

// take returns and clears what was written since the last call.
func (w *streamResponse) take() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		return nil
	}
	b := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	return b
}

func (w *streamResponse) hangUp() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
}

func (w *streamResponse) statusCode() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// serveStreaming runs handle(ctx, w) for the Fiber request c and sends what it writes, streaming once it flushes.
// ctx is cancelled when the client hangs up during a stream or when the handler is done; handle must not touch c.
func serveStreaming(c *fiber.Ctx, ctx context.Context, handle func(ctx context.Context, w *streamResponse)) error {
	ctx, cancel := context.WithCancel(ctx)
	w := newStreamResponse()
	done := make(chan struct{})
	go func() {
		defer close(done)
		handle(ctx, w)
	}()

	select {
	case <-done:
		// A plain answer: send it like any other Fiber response.
		defer cancel()
		copyHeaders(c, w.header)
		c.Status(w.statusCode())
		return c.Send(w.take())
	case <-w.flushed:
	}

	// A stream. Headers written after this point are not sent, as with net/http after WriteHeader.
	copyHeaders(c, w.header)
	c.Status(w.statusCode())
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer cancel()
		for {
			finished := false
			select {
			case <-w.wake:
			case <-done:
				finished = true
			}
			if b := w.take(); len(b) > 0 {
				_, err := bw.Write(b)
				if err == nil {
					err = bw.Flush()
				}
				if err != nil {
					// The client is gone: stop the handler's work and let its writes fail.
					w.hangUp()
					cancel()
					<-done
					return
				}
			}
			if finished {
				return
			}
		}
	})
	return nil
}

func copyHeaders(c *fiber.Ctx, h http.Header) {
	for k, vs := range h {
		for i, v := range vs {
			if i == 0 {
				c.Response().Header.Set(k, v)
			} else {
				c.Response().Header.Add(k, v)
			}
		}
	}
}
