package docker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseImageDigests(t *testing.T) {
	id1 := "sha256:" + strings.Repeat("a", 64)
	id2 := "sha256:" + strings.Repeat("b", 64)
	out := id1 + ` ["nginx@sha256:` + strings.Repeat("1", 64) + `"]` + "\n" +
		id2 + " []\n" + // built locally
		"garbage line\n" + id1 + " not-json\n"
	got, err := ParseImageDigests([]byte(out))
	require.NoError(t, err)
	require.Equal(t, []ImageDigest{{ID: id1, RepoDigests: []string{"nginx@sha256:" + strings.Repeat("1", 64)}}, {ID: id2, RepoDigests: []string{}}}, got)

	var many strings.Builder
	for i := 0; i <= MaxImages; i++ {
		fmt.Fprintf(&many, "sha256:%064d []\n", i)
	}
	_, err = ParseImageDigests([]byte(many.String()))
	require.ErrorContains(t, err, "more than")
}
