package ws

import (
	"encoding/json"
	"strings"
	"testing"

	rq "github.com/stretchr/testify/require" // package api has its own require
)

// TestParseWSMessage checks the validation of every kind of client message: the type, the topics, the id echoed in
// answers, and that a token is accepted only in an auth message and never appears in an error.
func TestParseWSMessage(t *testing.T) {
	t.Parallel()
	const dev = "0b7e4b1c-6f1d-4c55-9a59-2f0f6f3c1a10"
	tests := []struct {
		name, in  string
		typ       string
		topics    []string
		id        string // the id kept for the answer
		token     string
		errCode   string
		errSubstr string
	}{
		{name: "subscribe", in: `{"type":"subscribe","topics":["device.*.status","events"],"id":1}`,
			typ: "subscribe", topics: []string{"device.*.status", "events"}, id: "1"},
		{name: "subscribe canonicalises ids", in: `{"type":"subscribe","topics":["device.` + strings.ToUpper(dev) + `.metrics"]}`,
			typ: "subscribe", topics: []string{"device." + dev + ".metrics"}},
		{name: "unsubscribe with string id", in: `{"type":"unsubscribe","topics":["operations"],"id":"a-1"}`,
			typ: "unsubscribe", topics: []string{"operations"}, id: `"a-1"`},
		{name: "ping", in: `{"type":"ping","id":-7}`, typ: "ping", id: "-7"},
		{name: "auth", in: `{"type":"auth","token":"s3cret"}`, typ: "auth", token: "s3cret"},
		{name: "auth without token", in: `{"type":"auth"}`, errCode: wsBadMessage, errSubstr: "needs a token"},
		{name: "not JSON", in: `subscribe events`, errCode: wsBadMessage, errSubstr: "invalid JSON"},
		{name: "not an object", in: `["subscribe"]`, errCode: wsBadMessage, errSubstr: "JSON object"},
		{name: "null", in: `null`, errCode: wsBadMessage, errSubstr: "JSON object"},
		{name: "two values", in: `{"type":"ping"}{"type":"ping"}`, errCode: wsBadMessage},
		{name: "missing type", in: `{"topics":["events"]}`, errCode: wsBadMessage, errSubstr: "missing type"},
		{name: "unknown type", in: `{"type":"publish","topics":["events"],"id":3}`, errCode: wsUnknownType, errSubstr: `"publish"`, id: "3"},
		{name: "unknown field", in: `{"type":"subscribe","topic":"events","id":4}`, errCode: wsBadMessage, errSubstr: `unknown field "topic"`, id: "4"},
		{name: "wrong field type", in: `{"type":"subscribe","topics":"events"}`, errCode: wsBadMessage, errSubstr: `"topics" has the wrong type`},
		{name: "no topics", in: `{"type":"subscribe","topics":[]}`, errCode: wsMissingTopics},
		{name: "invalid topic", in: `{"type":"subscribe","topics":["events","device.nope.status","device.*.logs"],"id":"x"}`,
			errCode: wsInvalidTopic, errSubstr: "device.nope.status", id: `"x"`},
		{name: "too many topics", in: `{"type":"subscribe","topics":[` + strings.Repeat(`"events",`, wsMaxTopicsPerMsg) + `"events"]}`,
			errCode: wsTooManyTopics},
		{name: "token outside auth", in: `{"type":"subscribe","topics":["events"],"token":"s3cret"}`, errCode: wsBadMessage, errSubstr: "only allowed"},
		{name: "object id", in: `{"type":"ping","id":{"a":1}}`, errCode: wsBadMessage, errSubstr: "id must be"},
		{name: "long id", in: `{"type":"ping","id":"` + strings.Repeat("i", wsMaxIDBytes) + `"}`, errCode: wsBadMessage, errSubstr: "id must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, werr := parseWSMessage([]byte(tt.in))
			rq.Equal(t, tt.id, string(req.ID))
			if tt.errCode != "" {
				rq.NotNil(t, werr, "want error %s", tt.errCode)
				rq.Equal(t, tt.errCode, werr.Code, werr.Message)
				rq.Contains(t, werr.Message, tt.errSubstr)
				rq.NotContains(t, werr.Message, "s3cret", "an error never echoes a token")
				return
			}
			rq.Nil(t, werr)
			rq.Equal(t, tt.typ, req.Type)
			rq.Equal(t, tt.topics, req.Topics)
			rq.Len(t, req.Patterns, len(tt.topics))
			rq.Equal(t, tt.token, req.Token)
		})
	}
}

// FuzzParseWSMessage: no input panics, every error has a code, and a valid id is always valid JSON.
func FuzzParseWSMessage(f *testing.F) {
	for _, s := range []string{`{"type":"subscribe","topics":["device.*.status"],"id":1}`, `{"type":"auth","token":"x"}`,
		`{"type":"ping","id":"p"}`, `[]`, `{"id":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, werr := parseWSMessage(raw)
		if werr != nil {
			rq.NotEmpty(t, werr.Code)
			rq.NotEmpty(t, werr.Message)
		}
		if req.ID != nil {
			rq.True(t, json.Valid(req.ID), "id %q", req.ID)
		}
	})
}
