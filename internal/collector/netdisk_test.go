package collector

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// skipDiskPattern is the regular expression skipDisk replaces; FuzzSkipDisk keeps them equal.
var skipDiskPattern = regexp.MustCompile(`^(?:(?:z?ram|loop|fd|sr|zd)\d+|(?:h|s|v|xv)d[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+|md\d+|nbd\d+|loop\d+|rbd\d+|zd\d+)p\d+|nvme\d+c\d+n\d+|mmcblk\d+(?:boot\d+|rpmb))$`)

func FuzzSkipDisk(f *testing.F) {
	for _, s := range []string{"sda", "sda1", "xvda1", "nvme0n1", "nvme0n1p2", "nvme0c0n1", "mmcblk0", "mmcblk0p1",
		"mmcblk0boot0", "mmcblk0rpmb", "loop0", "loop0p1", "zram0", "ram12", "dm-0", "md127", "md127p1", "sr0", "zd16",
		"zd16p1", "fd0", "vdb3", "hdc", "nbd0p1", "rbd0p1", "sd", "sd1", "nvme", "nvme0n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, skipDiskPattern.MatchString(s), skipDisk(s), "%q", s)
	})
}
