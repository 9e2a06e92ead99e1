package zfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/storagefake"
)

// TestCollectScriptOnRecordedOutputs runs CollectScript under dash and busybox sh with zpool and zfs stand-ins
// printing recorded outputs: the -j refusal falls back to text, and the snapshot summary computed on the device by
// awk equals SummarizeSnapshots over the same listing.
func TestCollectScriptOnRecordedOutputs(t *testing.T) {
	t.Parallel()
	dir := sharedFixtures(t, "zfs")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	fake := storagefake.Install(t, t.TempDir())
	degraded := read("zpool-status-exporter__zpool-status.input-01-corrupted.txt")
	fake.SetPools(degraded, "", "", read("netdata__zpool-list.txt"))
	fake.Set("datasets.txt", "rpool\t9051643576\t12240656794\t98304\t1.50\t/rpool\nrpool/vol\t100\t200\t300\t1.00\t-\n")
	snaps := read("textfile-scripts__zfs_list_-p_-H_-t_snapshot_-o_name_used_creation")
	fake.Set("snapshots.txt", snaps)

	want, err := SummarizeSnapshots(bytes.NewReader([]byte(snaps)))
	require.NoError(t, err)
	require.NotEmpty(t, want)

	for _, sh := range [][]string{{"/usr/bin/dash"}, {"/usr/bin/busybox", "sh"}} {
		cmd := exec.Command(sh[0], append(sh[1:], "-c", CollectScript)...)
		cmd.Env = []string{"PATH=" + fake.Bin + ":/usr/bin:/bin", "TZ=UTC"}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		c, err := ParseCollect(out)
		require.NoError(t, err, "%s", out)
		require.False(t, c.Absent)
		require.Equal(t, "text", c.StatusFormat)
		require.Len(t, c.Pools, 1)
		require.Equal(t, "dummy", c.Pools[0].Name)
		require.Equal(t, "DEGRADED", c.Pools[0].State)
		require.Len(t, c.Usage, 2)
		require.True(t, c.DatasetsKnown)
		require.Len(t, c.Datasets, 2)
		require.Equal(t, want, c.Snapshots, "%s", out)
	}
}

// TestCollectWithoutZFS: a device without zpool is the "not installed" state.
func TestCollectWithoutZFS(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("/usr/bin/dash", "-c", CollectScript)
	cmd.Env = []string{"PATH=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	c, err := ParseCollect(out)
	require.NoError(t, err)
	require.True(t, c.Absent)
}

func TestParseSnapshotSummaryBounds(t *testing.T) {
	t.Parallel()
	got, err := ParseSnapshotSummary([]byte("a\t2\t10\tx\t5\ty\t7\nbad line\nb\tx\t1\ts\t1\ts\t1\n"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, uint64(2), got[0].Count)
	require.Equal(t, "y", got[0].Newest)
}

// TestCollectWithoutSections: output that is not the script's (a shell error) is an error, not an empty pool list.
func TestCollectWithoutSections(t *testing.T) {
	t.Parallel()
	_, err := ParseCollect([]byte("sh: 1: syntax error\n"))
	require.Error(t, err)
	_, err = ParseCollect(nil)
	require.Error(t, err)
}
