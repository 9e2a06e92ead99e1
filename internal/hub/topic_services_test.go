package hub

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// TestServicesTopic: clients may subscribe to a device's services updates, by id and by wildcard.
func TestServicesTopic(t *testing.T) {
	t.Parallel()
	p, err := ParsePattern(vocab.TopicDeviceServices(devA))
	require.NoError(t, err)
	require.Equal(t, "device."+devA+".services", p.String())
	_, err = ParsePattern("device.*.services")
	require.NoError(t, err)
}
