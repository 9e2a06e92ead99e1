package pkgupdate

import (
	"errors"
	"fmt"
)

// ErrRefreshUnsupported reports a manager whose lists Infrastructor does not refresh on its own.
var ErrRefreshUnsupported = errors.New("pkgupdate: refreshing the package lists is not supported for this manager")

// RefreshScript returns the sh script (for `sh -s`) that refreshes the package lists of manager m: the
// separate, explicit operation behind refresh_package_lists; the update check never does it. With useSudo the
// command runs under `sudo -n`, which fails at once instead of waiting for a password. Only the lists change:
// nothing is installed or upgraded.
//
// pacman is refused: refreshing its sync database without upgrading (pacman -Sy) sets up partial upgrades, the
// one thing Arch documents as unsupported.
func RefreshScript(m Manager, useSudo bool) (string, error) {
	var cmd string
	switch m {
	case ManagerApt:
		cmd = "apt-get -q update"
	case ManagerDnf:
		cmd = "dnf -q makecache"
	case ManagerYum:
		cmd = "yum -q makecache"
	case ManagerApk:
		cmd = "apk -q update"
	case ManagerPacman:
		return "", fmt.Errorf("%w: pacman -Sy without -u leads to partial upgrades", ErrRefreshUnsupported)
	default:
		return "", fmt.Errorf("pkgupdate: invalid manager %q", clip(string(m), 64))
	}
	if useSudo {
		cmd = "sudo -n " + cmd
	}
	return "export LC_ALL=C\n" + cmd + "\n", nil
}
