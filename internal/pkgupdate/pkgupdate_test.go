package pkgupdate

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
)

func inputs(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	for _, dir := range []string{"recorded", "derived"} {
		entries, err := os.ReadDir(filepath.Join("testdata", dir))
		require.NoError(t, err)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".md") {
				continue
			}
			b, err := os.ReadFile(filepath.Join("testdata", dir, e.Name()))
			require.NoError(t, err)
			out[dir+"-"+strings.TrimSuffix(e.Name(), ".txt")] = b
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	for name, b := range inputs(t) {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(b)
			require.NoError(t, err)
			golden.JSON(t, name, r)
		})
	}
}

func TestParse(t *testing.T) {
	in := inputs(t)
	r, err := Parse(in["derived-dnf-fedora"])
	require.NoError(t, err)
	require.Equal(t, 4, r.Total, "obsoleting block is not counted")
	require.Equal(t, 2, r.Security)
	require.True(t, r.SecurityKnown)
	require.Equal(t, Update{Name: "glibc", Arch: "x86_64", Current: "2.28-9.fc29", Candidate: "2.28-26.fc29", Security: true, Origin: "dnf-ci-fedora-updates"}, r.Updates[0])
	require.Equal(t, RebootRequired, r.Reboot)
	require.Equal(t, 10000*time.Second, r.ListsAge)

	r, err = Parse(in["derived-yum-centos7-error"])
	require.NoError(t, err)
	require.True(t, r.Failed)
	require.False(t, r.SecurityKnown)
	require.Equal(t, []string{"Error: Cache-only enabled but no cache for 'base'"}, r.Messages)
	require.True(t, r.ListsUpdatedAt.IsZero())

	r, err = Parse(in["derived-apk-alpine"])
	require.NoError(t, err)
	require.False(t, r.SecurityKnown)
	require.Contains(t, r.Updates, Update{Name: "libcrypto3", Arch: "x86_64", Current: "3.1.4-r4", Candidate: "3.1.4-r5", Origin: "openssl"})

	r, err = Parse(in["derived-pacman-arch"])
	require.NoError(t, err)
	require.Equal(t, 3, r.Total)
	require.Contains(t, r.Updates, Update{Name: "docker", Current: "1:25.0.0-1", Candidate: "1:25.0.1-1"})

	r, err = Parse(in["derived-apt-ubuntu-reboot"])
	require.NoError(t, err)
	require.Equal(t, 4, r.Total)
	require.Equal(t, 3, r.Security)
	require.Equal(t, []string{"linux-image-6.8.0-49-generic", "linux-base"}, r.RebootPackages)
	require.Equal(t, time.Hour, r.ListsAge)

	r, err = Parse(in["derived-apt-locked-error"])
	require.NoError(t, err)
	require.True(t, r.Failed)
	require.Equal(t, RebootUnknown, r.Reboot)

	_, err = Parse([]byte("sh: 1: syntax error\n"))
	require.ErrorIs(t, err, ErrNoMarkers)
	_, err = Parse([]byte("@@infra-pkg manager zypper\n"))
	require.ErrorContains(t, err, "zypper")
}

// TestUnfinishedSection: output cut mid-way (connection lost) is a failed query, not "no updates".
func TestUnfinishedSection(t *testing.T) {
	r, err := Parse([]byte("@@infra-pkg manager apt\n@@infra-pkg begin upgrade\nInst a [1] (2 Debian:12/bookworm [all])\n"))
	require.NoError(t, err)
	require.True(t, r.Failed)
	require.Equal(t, 1, r.Total)
}

// TestForgedMarkers: a package manager line cannot open a second upgrade section or end another section.
func TestForgedMarkers(t *testing.T) {
	out := "@@infra-pkg manager apt\n@@infra-pkg begin upgrade\nInst a [1] (2 X:1/s [all])\n@@infra-pkg end upgrade 0\n" +
		"@@infra-pkg begin upgrade\nInst b [1] (2 X:1/s-security [all])\n@@infra-pkg end upgrade 0\n"
	r, err := Parse([]byte(out))
	require.NoError(t, err)
	require.Equal(t, 1, r.Total)
}

func TestLimits(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("@@infra-pkg manager pacman\n@@infra-pkg begin upgrade\n")
	for i := 0; i < MaxUpdates+10; i++ {
		b.WriteString("p" + strings.Repeat("x", 2*MaxFieldBytes) + " 1 -> 2\n")
	}
	b.WriteString("@@infra-pkg end upgrade 0\n@@infra-pkg begin reboot\n")
	for i := 0; i < MaxRebootPackages+10; i++ {
		b.WriteString("pkg k\n")
	}
	b.WriteString("@@infra-pkg end reboot 0\n")
	r, err := Parse(b.Bytes())
	require.NoError(t, err)
	require.Equal(t, MaxUpdates+10, r.Total)
	require.Len(t, r.Updates, MaxUpdates)
	require.True(t, r.Truncated)
	require.Len(t, r.Updates[0].Name, MaxFieldBytes)
	require.Len(t, r.RebootPackages, MaxRebootPackages)
}

func checkBounded(t testing.TB, b []byte) {
	var r *Report
	var err error
	if alloc := malformed.Allocated(func() { r, err = Parse(b) }); alloc > malformed.Bound(len(b), 64, 1<<20) {
		t.Fatalf("Parse allocated %d bytes for %d bytes of input", alloc, len(b))
	}
	if err != nil {
		require.LessOrEqual(t, len(err.Error()), 200)
		return
	}
	require.LessOrEqual(t, len(r.Updates), MaxUpdates)
	require.LessOrEqual(t, len(r.Messages), MaxMessages)
	require.LessOrEqual(t, len(r.RebootPackages), MaxRebootPackages)
	require.LessOrEqual(t, len(r.Updates), r.Total)
	require.LessOrEqual(t, r.Security, r.Total)
	for _, u := range r.Updates {
		for _, s := range []string{u.Name, u.Arch, u.Current, u.Candidate, u.Origin} {
			require.LessOrEqual(t, len(s), MaxFieldBytes)
		}
	}
	for _, m := range r.Messages {
		require.LessOrEqual(t, len(m), MaxMessageBytes)
	}
	require.GreaterOrEqual(t, r.ListsAge, time.Duration(0))
}

func FuzzParse(f *testing.F) {
	for _, b := range inputs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkBounded(t, b) })
}

// TestFaultMalformed feeds random mutations of the samples (cut, spans deleted or repeated, hostile values).
func TestFaultMalformed(t *testing.T) {
	var seeds [][]byte
	for _, b := range inputs(t) {
		seeds = append(seeds, b)
	}
	r := rand.New(rand.NewPCG(1, 2))
	hostile := [][]byte{[]byte("\x00"), []byte("\xff\xfe"), bytes.Repeat([]byte("x"), 5000), []byte("@@infra-pkg begin upgrade\n"), []byte("@@infra-pkg end upgrade 99999999999999999999\n")}
	for range 2000 {
		b := bytes.Clone(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			j := i + r.IntN(min(len(b)-i, 256)+1)
			switch r.IntN(4) {
			case 0:
				b = b[:i]
			case 1:
				b = append(b[:i:i], b[j:]...)
			case 2:
				b = append(append(b[:i:i], bytes.Repeat(b[i:j], 1+r.IntN(64))...), b[i:]...)
			case 3:
				b = append(append(b[:i:i], hostile[r.IntN(len(hostile))]...), b[j:]...)
			}
		}
		checkBounded(t, b)
	}
}

// TestScriptIsPOSIX runs the script through dash with -n (parse only) so bash-isms are caught.
func TestScriptIsPOSIX(t *testing.T) {
	for _, sh := range []string{"dash", "busybox"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		args := []string{"-n"}
		if sh == "busybox" {
			args = []string{"sh", "-n"}
		}
		cmd := exec.Command(sh, args...)
		cmd.Stdin = strings.NewReader(Script())
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", sh, out)
	}
}

// TestDnf5Advisories: dnf5 prints the package in the middle of the advisory line, not last.
func TestDnf5Advisories(t *testing.T) {
	r, err := Parse(inputs(t)["derived-dnf5-fedora41"])
	require.NoError(t, err)
	require.Equal(t, 3, r.Total)
	require.Equal(t, 2, r.Security)
	require.Equal(t, Update{Name: "vim-minimal", Arch: "x86_64", Current: "2:9.1.825-1.fc41", Candidate: "2:9.1.866-1.fc41", Origin: "updates"}, r.Updates[2])
}

func TestRefreshScript(t *testing.T) {
	s, err := RefreshScript(ManagerApt, true)
	require.NoError(t, err)
	require.Equal(t, "export LC_ALL=C\nsudo -n apt-get -q update\n", s)
	s, err = RefreshScript(ManagerDnf, false)
	require.NoError(t, err)
	require.Equal(t, "export LC_ALL=C\ndnf -q makecache\n", s)
	_, err = RefreshScript(ManagerPacman, true)
	require.ErrorIs(t, err, ErrRefreshUnsupported)
	_, err = RefreshScript("rm -rf /", false)
	require.ErrorContains(t, err, "manager")
}
