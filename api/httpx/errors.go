package httpx

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// ToEnvelope maps any error to the envelope; ok is false for an internal error the client must not see.
func ToEnvelope(err error) (e *service.Error, ok bool) {
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrNotFound):
		e = service.NotFound("resource")
	case service.IsUnavailable(err, &e):
	case errors.Is(err, store.ErrConflict):
		e = service.Errorf(http.StatusConflict, "conflict", "a resource with the same unique key already exists")
	case errors.As(err, &fe):
		e = &service.Error{Status: fe.Code, Code: service.FiberCode(fe.Code), Message: fe.Message}
		if fe.Code == http.StatusRequestEntityTooLarge {
			e.Message = "request body is larger than the limit"
		}
	default:
		return service.Errorf(http.StatusInternalServerError, "internal", "internal error; see the server log"), false
	}
	return e, true
}

// ErrorHandler answers every error with the envelope. Internal errors are logged with the request and answered
// with a generic message, so SQL, stack traces or paths never reach a client.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e, ok := ToEnvelope(err)
		if !ok {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		if e.Status == http.StatusServiceUnavailable {
			// Logged, since an outage shows here first; the client only learns to retry.
			log.Warn("request failed: dependency unavailable", "method", c.Method(), "path", c.Path(), "err", err)
		}
		setRetryAfter(c, e.Status)
		return c.Status(e.Status).JSON(fiber.Map{"error": e})
	}
}

// setRetryAfter adds Retry-After to every 503, so clients and load balancers back off instead of hammering a
// recovering dependency.
func setRetryAfter(c *fiber.Ctx, status int) {
	if status == http.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(service.RetryAfter/time.Second)))
	}
}
