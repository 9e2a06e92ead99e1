package activities

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestCollectNetworkOverSSH runs the network collector through a real sshd on this host: the real `ip -j`
// output lists the loopback interface, and the Docker networks come from the real test dockerd (a network with a
// fixed subnet and a container on it), stored and read back.
func TestCollectNetworkOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd and dockerd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the test sshd")
	}
	e := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	net := testenv.ContainerName(t, "infra-net")
	ctr := testenv.ContainerName(t, "infra-netc")
	e.Docker(t, "network", "create", "--subnet", "172.31.77.0/24", "--gateway", "172.31.77.1", net)
	t.Cleanup(func() {
		_, _ = e.TryDocker(nil, "rm", "-f", ctr)
		_, _ = e.TryDocker(nil, "network", "rm", net)
	})
	e.Docker(t, "run", "-d", "--name", ctr, "--network", net, img, "sleep", "1000")

	db := testdb.Pool(t)
	dev, run := sshDevice(t, db, "net-host", e.SetEnv())
	dev.Docker = json.RawMessage(`{"state":"available"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := collectNetwork(ctx, db, dev, time.Now(), run)
	require.NoError(t, err)
	require.Contains(t, got.summary, "docker networks")

	n, err := store.GetNetwork(ctx, db, dev.ID)
	require.NoError(t, err)
	require.Empty(t, n.Errors)
	require.Empty(t, n.DockerError)
	var lo bool
	for _, it := range n.Interfaces {
		if it.Name == "lo" {
			lo = true
			require.NotEmpty(t, it.Addresses)
		}
	}
	require.True(t, lo, "the real ip -j output lists lo")
	var found bool
	for _, dn := range n.DockerNetworks {
		if dn.Name == net {
			found = true
			require.Equal(t, "bridge", dn.Driver)
			require.Equal(t, "172.31.77.0/24", dn.Subnets[0].Subnet)
			require.Len(t, dn.Containers, 1)
			require.Equal(t, ctr, dn.Containers[0].Name)
		}
	}
	require.True(t, found, "the docker network is stored")

	// Without Docker on the device, only the interfaces are read.
	dev.Docker = json.RawMessage(`{"state":"absent"}`)
	_, err = collectNetwork(ctx, db, dev, time.Now(), run)
	require.NoError(t, err)
	n, err = store.GetNetwork(ctx, db, dev.ID)
	require.NoError(t, err)
	require.Nil(t, n.DockerNetworks)
}
