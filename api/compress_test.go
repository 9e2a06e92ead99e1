package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRESTAnswersCompressed: a client that accepts gzip gets the JSON compressed, and one that does not gets it
// plain; both decode to the same list.
func TestRESTAnswersCompressed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for i := range 20 {
		s.createDevice(newID()[:8]+"-"+string(rune('a'+i)), nil)
	}
	plain := s.req("GET", "/api/v1/devices", s.read, nil).requireStatus(t, http.StatusOK)
	require.Empty(t, plain.Header.Get("Content-Encoding"))

	gz := s.req("GET", "/api/v1/devices", s.read, nil, "Accept-Encoding", "gzip").requireStatus(t, http.StatusOK)
	require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"))
	require.Less(t, len(gz.Body), len(plain.Body)/2, "twenty devices compress well")
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body))
	require.NoError(t, err)
	body, err := io.ReadAll(zr)
	require.NoError(t, err)

	var a, b struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(plain.Body, &a))
	require.NoError(t, json.Unmarshal(body, &b))
	require.Len(t, b.Items, 20)
	require.Equal(t, a, b)
}
