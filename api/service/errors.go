package service

import (
	"net/http"
)

// Error is the one error shape every endpoint returns: {"error":{"code","message","fields"}}.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Error is the message.
func (e *Error) Error() string { return e.Message }

// Errorf is an error with an HTTP status, a machine-readable code and a message for the client.
func Errorf(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Invalid is a 422 naming each bad field.
func Invalid(fields map[string]string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_input", Message: "the request has invalid fields", Fields: fields}
}

// NotFound is a 404 naming what was not found.
func NotFound(what string) *Error {
	return Errorf(http.StatusNotFound, "not_found", what+" not found")
}

// FiberCode is the envelope code of an HTTP status answered without one of our errors (a route not found, a
// body too large, a bad request).
func FiberCode(status int) string {
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
