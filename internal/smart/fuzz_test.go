package smart

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// The fuzz targets and TestFaultMalformed check every parser the same way: whatever the input, no panic, every
// list within its limit, every string within its limit, and allocation at most allocPerInputByte per input byte
// plus allocFixed. The fuzz targets run their seed corpus (recorded outputs and shared fixtures) in plain go test.

// seeds returns every smartctl output this package knows: recorded, derived and the shared fixtures.
func seeds(tb testing.TB) [][]byte {
	var out [][]byte
	dirs := []string{filepath.Join("testdata", "recorded"), filepath.Join("testdata", "derived")}
	if fx, ok := testenv.OptionalFixturesDir(tb); ok {
		dirs = append(dirs, filepath.Join(fx, "smartctl"))
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		require.NoError(tb, err)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".json") {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				require.NoError(tb, err)
				out = append(out, b)
			}
		}
	}
	return out
}

func checkDrive(t testing.TB, d *Drive) {
	t.Helper()
	for what, s := range map[string]string{"device": d.Device, "type": d.Type, "protocol": d.Protocol,
		"model": d.Model, "serial": d.Serial, "wwn": d.WWN, "firmware": d.Firmware} {
		malformed.CheckText(t, what, s, MaxFieldBytes)
	}
	malformed.CheckText(t, "message", d.Message, MaxMessageBytes)
	if d.ATA != nil {
		require.LessOrEqual(t, len(d.ATA.FailedAttributes), MaxFailedAttributes)
		for _, f := range d.ATA.FailedAttributes {
			malformed.CheckText(t, "failed attribute", f, MaxFieldBytes+32)
		}
	}
	v := Assess(d, d)
	require.Contains(t, []Health{HealthOK, HealthWarning, HealthFailing, HealthUnknown}, v.Health)
}

func checkScan(t testing.TB, s *Scan) {
	t.Helper()
	require.LessOrEqual(t, len(s.Devices), MaxDrives)
	require.LessOrEqual(t, len(s.Messages), maxMessages)
	for _, d := range s.Devices {
		for _, f := range []string{d.Name, d.Type, d.Protocol, d.InfoName} {
			malformed.CheckText(t, "device field", f, MaxFieldBytes)
		}
		malformed.CheckText(t, "open error", d.OpenError, MaxMessageBytes)
	}
}

// checkBounded runs both parsers on b, fails when one allocated more than the allocation bound, and checks what
// they returned.
func checkBounded(t testing.TB, b []byte) {
	t.Helper()
	var d *Drive
	var err error
	if alloc := malformed.Allocated(func() { d, err = ParseDrive(b, len(b)%256) }); alloc > malformed.Bound(len(b), allocPerInputByte, allocFixed) {
		t.Fatalf("ParseDrive allocated %d bytes for %d bytes of input (bound %d)", alloc, len(b), malformed.Bound(len(b), allocPerInputByte, allocFixed))
	}
	if err != nil {
		malformed.CheckText(t, "error", err.Error(), maxErrorBytes+len("..."))
	} else {
		checkDrive(t, d)
	}
	var s *Scan
	if alloc := malformed.Allocated(func() { s, err = ParseScan(b, 0) }); alloc > malformed.Bound(len(b), allocPerInputByte, allocFixed) {
		t.Fatalf("ParseScan allocated %d bytes for %d bytes of input (bound %d)", alloc, len(b), malformed.Bound(len(b), allocPerInputByte, allocFixed))
	}
	if err != nil {
		malformed.CheckText(t, "error", err.Error(), maxErrorBytes+len("..."))
	} else {
		checkScan(t, s)
	}
}

// FuzzParse checks ParseDrive's and ParseScan's bounds (see checkBounded).
func FuzzParse(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"devices":[{"name":"/dev/sda","type":"sat"}],"smartctl":{"exit_status":1e400}}`))
	f.Fuzz(func(t *testing.T, b []byte) { checkBounded(t, b) })
}

// TestFaultMalformed feeds mutations of the seeds: truncations, repeated and deleted spans, hostile values.
func TestFaultMalformed(t *testing.T) {
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on mutation %d of seed 1", cur)
		}
	})
	mutations(seeds(t), 2000, 1, func(i int, b []byte) {
		cur = i
		checkBounded(t, b)
	})
}

// TestParseScanLimit checks that a scan with more than MaxDrives devices fails instead of being cut.
func TestParseScanLimit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"devices":[`)
	for i := range MaxDrives + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"/dev/sdx","type":"sat","protocol":"ATA"}`)
	}
	b.WriteString(`]}`)
	_, err := ParseScan(b.Bytes(), 0)
	require.ErrorIs(t, err, ErrLimit)
}

// TestParseDriveLongFields checks that giant strings are cut and the cut is recorded.
func TestParseDriveLongFields(t *testing.T) {
	long := strings.Repeat("é", 10000)
	d, err := ParseDrive([]byte(`{"device":{"name":"/dev/sda"},"model_name":"`+long+`","smart_status":{"passed":true}}`), 0)
	require.NoError(t, err)
	require.LessOrEqual(t, len(d.Model), MaxFieldBytes)
	require.Equal(t, []string{"text"}, d.Truncated)
}

var hostile = []string{"18446744073709551615", "18446744073709551616", "-1", "1e308", "NaN", "null", `"x"`, "{}", "[]", "0x10"}

// mutations calls fn with n deterministic variants of seeds, one at a time.
func mutations(seeds [][]byte, n int, seed uint64, fn func(i int, b []byte)) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for k := range n {
		b := bytes.Clone(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			j := i + r.IntN(min(len(b)-i, 256)+1)
			switch r.IntN(5) {
			case 0: // truncate
				b = b[:i]
			case 1: // delete a span
				b = append(b[:i:i], b[j:]...)
			case 2: // repeat a span
				rep := bytes.Repeat(b[i:j], 1+r.IntN(64))
				b = append(append(b[:i:i], rep...), b[i:]...)
			case 3: // replace a number or word with a hostile value
				b = append(append(b[:i:i], hostile[r.IntN(len(hostile))]...), b[j:]...)
			case 4: // grow a string
				b = append(append(b[:i:i], bytes.Repeat([]byte("A"), 1<<(4+r.IntN(12)))...), b[i:]...)
			}
		}
		fn(k, b)
	}
}
