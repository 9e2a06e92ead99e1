package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Error is the one error shape every endpoint returns: {"error":{"code","message","fields"}}.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// invalid is a 422 naming each bad field.
func invalid(fields map[string]string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_input", Message: "the request has invalid fields", Fields: fields}
}

func notFound(what string) *Error {
	return errorf(http.StatusNotFound, "not_found", what+" not found")
}

// toEnvelope maps any error to the envelope; ok is false for an internal error the client must not see.
func toEnvelope(err error) (e *Error, ok bool) {
	var fe *fiber.Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrNotFound):
		e = notFound("resource")
	case isUnavailable(err, &e):
	case errors.Is(err, store.ErrConflict):
		e = errorf(http.StatusConflict, "conflict", "a resource with the same unique key already exists")
	case errors.As(err, &fe):
		e = &Error{Status: fe.Code, Code: fiberCode(fe.Code), Message: fe.Message}
		if fe.Code == http.StatusRequestEntityTooLarge {
			e.Message = "request body is larger than the limit"
		}
	default:
		return errorf(http.StatusInternalServerError, "internal", "internal error; see the server log"), false
	}
	return e, true
}

// errorHandler answers every error with the envelope. Internal errors are logged with the request and answered
// with a generic message, so SQL, stack traces or paths never reach a client.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		e, ok := toEnvelope(err)
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

func fiberCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}
