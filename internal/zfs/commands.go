package zfs

import (
	"fmt"
	"regexp"
	"strings"
)

// CollectScript is the slow-cadence ZFS collection (#11): one session printing delimited sections (see
// SplitCollect). It prefers `zpool status -j` (OpenZFS 2.3 and later) and falls back to `zpool status -p` text when
// -j is refused. Snapshots are summed up per dataset on the device (count, space, oldest, newest), so a pool with
// 100,000 snapshots sends one line per dataset, not one per snapshot.
const CollectScript = `command -v zpool >/dev/null 2>&1 || { echo '@@absent'; exit 0; }
echo '@@tz'; date +%z
if out=$(zpool status -j -p 2>/dev/null); then echo '@@status-json'; printf '%s\n' "$out"; else echo '@@status-text'; zpool status -p 2>&1; fi
echo '@@list'; zpool list -Hp -o ` + ListColumns + ` 2>&1
command -v zfs >/dev/null 2>&1 || exit 0
echo '@@datasets'; zfs list -Hp -o ` + DatasetColumns + ` -t filesystem,volume 2>&1
echo '@@snapshots'; zfs list -Hp -t snapshot -o ` + SnapshotColumns + ` 2>/dev/null | awk -F '\t' '{i=index($1,"@"); if (i<2) next; d=substr($1,1,i-1); s=substr($1,i+1); c[d]++; u[d]+=$2; if (!(d in on) || $3+0<ot[d]+0) {on[d]=s; ot[d]=$3} if (!(d in nn) || $3+0>=nt[d]+0) {nn[d]=s; nt[d]=$3}} END {for (d in c) printf "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\n", d, c[d], u[d], on[d], ot[d], nn[d], nt[d]}'
`

var (
	poolNameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{0,200}$`)
	datasetNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:/-]{0,250}$`)
)

// ValidPoolName reports whether name is a pool name the commands accept: a letter, then letters, digits, _ . : -.
func ValidPoolName(name string) error {
	if !poolNameRE.MatchString(name) {
		return fmt.Errorf("pool name %q: must start with a letter and hold only letters, digits, _ . : -", name)
	}
	return nil
}

// ValidDatasetName reports whether name is a dataset name the commands accept: a pool name, then /-separated
// components of letters, digits, _ . : -.
func ValidDatasetName(name string) error {
	if !datasetNameRE.MatchString(name) || strings.Contains(name, "//") || strings.HasSuffix(name, "/") ||
		strings.Contains(name, "..") {
		return fmt.Errorf("dataset name %q: must be pool[/name...] of letters, digits, _ . : -", name)
	}
	return nil
}

func zpool(sudo bool) string {
	if sudo {
		return "sudo -n zpool"
	}
	return "zpool"
}

// StatusCommand prints one pool's status as text (`zpool status -p POOL`), for following a scrub.
func StatusCommand(pool string) (string, error) {
	if err := ValidPoolName(pool); err != nil {
		return "", err
	}
	return "zpool status -p " + pool, nil
}

// ScrubCommand starts a scrub of pool; zpool refuses while one runs.
func ScrubCommand(pool string, sudo bool) (string, error) {
	if err := ValidPoolName(pool); err != nil {
		return "", err
	}
	return zpool(sudo) + " scrub " + pool, nil
}

// ScrubStopCommand stops a running scrub (`zpool scrub -s`).
func ScrubStopCommand(pool string, sudo bool) (string, error) {
	if err := ValidPoolName(pool); err != nil {
		return "", err
	}
	return zpool(sudo) + " scrub -s " + pool, nil
}

// SnapshotsCommand lists snapshots in the form ListSnapshots reads: of one dataset (its own, -d 1), or of every
// dataset when dataset is "".
func SnapshotsCommand(dataset string) (string, error) {
	base := "zfs list -Hp -t snapshot -o " + SnapshotColumns + " -s creation"
	if dataset == "" {
		return base, nil
	}
	if err := ValidDatasetName(dataset); err != nil {
		return "", err
	}
	return base + " -d 1 " + dataset, nil
}
