package collector

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scriptOutput wraps sections (name, body) into a complete script output.
func scriptOutput(sections ...string) []byte {
	var b strings.Builder
	for i := 0; i+1 < len(sections); i += 2 {
		fmt.Fprintf(&b, "@@infra:%s@@\n%s", sections[i], sections[i+1])
	}
	b.WriteString("@@infra:end@@\n")
	return []byte(b.String())
}

func repeatLines(n int, format func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(format(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestParseCutsAtLimits: lists longer than their limit are cut, strings longer than MaxFieldBytes too, and
// every cut is named in Snapshot.Truncated.
func TestParseCutsAtLimits(t *testing.T) {
	long := strings.Repeat("é", MaxFieldBytes) // 2 bytes a rune: the cut must not split one
	out := scriptOutput(
		SectionStat, "cpu 1 2 3 4\n"+repeatLines(MaxCPUs+3, func(i int) string { return fmt.Sprintf("cpu%d 1 2 3 4", i) }),
		SectionNetDev, repeatLines(MaxInterfaces+3, func(i int) string {
			return fmt.Sprintf("veth%d: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", i)
		})+long+": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		SectionDiskstats, repeatLines(MaxDisks+3, func(i int) string { return fmt.Sprintf("8 %d dm-%d 1 2 3 4 5 6 7 8 9 10 11", i, i) }),
		SectionMounts, repeatLines(MaxMounts+3, func(i int) string { return fmt.Sprintf("/dev/x%d /m%d ext4 rw 0 0", i, i) }),
		SectionHwmon, repeatLines(MaxSensors+3, func(i int) string {
			return fmt.Sprintf("/sys/class/hwmon/hwmon%d/temp1_input\tchip\tdev%d\t40000\tlabel", i, i)
		}),
		SectionThermal, "thermal_zone0\t40000\tacpitz\n",
		SectionCaps, "hostname="+long+"\n"+repeatLines(MaxCommands+3, func(i int) string { return fmt.Sprintf("cmd_c%d=/bin/c%d", i, i) }),
		SectionDF, "Filesystem 1024-blocks Used Available Capacity Mounted on\n"+
			repeatLines(MaxMounts+3, func(i int) string { return fmt.Sprintf("/dev/x%d 10 5 5 50%% /m%d", i, i) }),
	)
	s, err := Parse(out)
	require.NoError(t, err)
	require.Len(t, s.CPU.Cores, MaxCPUs)
	require.Len(t, s.Interfaces, MaxInterfaces)
	require.Len(t, s.Disks, MaxDisks)
	require.Len(t, s.Temperatures, MaxSensors)
	require.Len(t, s.Filesystems, MaxFilesystems)
	require.Len(t, s.Capabilities.Commands, MaxCommands)
	require.Len(t, s.Capabilities.Hostname, MaxFieldBytes)
	require.Equal(t, []string{SectionStat, SectionNetDev, SectionDiskstats, SectionMounts, SectionHwmon, SectionThermal,
		SectionDF, SectionCaps}, s.Truncated)
}

// TestParseNotTruncated: a real machine's output has nothing cut.
func TestParseNotTruncated(t *testing.T) {
	s, err := recordedSnapshot()
	require.NoError(t, err)
	require.Empty(t, s.Truncated)
}

// TestParseErrorIsShort: an error quotes at most a few hundred bytes of device text.
func TestParseErrorIsShort(t *testing.T) {
	_, err := Parse(scriptOutput(SectionMeminfo, strings.Repeat("x", 1<<20)+"\n"))
	var se *SectionError
	require.ErrorAs(t, err, &se)
	require.Equal(t, SectionMeminfo, se.Section)
	require.LessOrEqual(t, len(err.Error()), maxErrorBytes+3)
}

// TestParseSkipsUnknownSections: sections a newer script adds are neither parsed nor kept.
func TestParseSkipsUnknownSections(t *testing.T) {
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "@@infra:newer_%d@@\nx\n", i)
	}
	secs, end, err := splitSections(scriptOutput(SectionProcs, "12\n"+b.String()))
	require.NoError(t, err)
	require.True(t, end)
	require.Len(t, secs, 1)
	require.Equal(t, "12\n", string(secs[SectionProcs].data))
}
