// Package pkgupdate builds the read-only script that finds pending package updates on a device and parses what
// it prints. It does no I/O: the SSH layer sends Script() to `sh -s` and hands the output to Parse.
//
// Nothing here changes the device: apt runs as a simulation from the cached lists (-s, Debug::NoLocking so no
// root is needed), dnf/yum use only their cache (-C), apk and pacman read their cached indexes. Refreshing the
// lists is a separate, explicit operation.
package pkgupdate

// Section markers. Every section is framed by a begin line and an end line carrying the command's exit status,
// so a parser can tell "no updates" from "the command failed" and cannot be confused by a section that printed
// nothing.
const (
	markerPrefix = "@@infra-pkg "
)

// script detects the package manager (the first one found in a fixed order: a Debian system with dnf installed
// is still an apt system) and runs its read-only commands. LC_ALL=C keeps the output in the English the parsers
// read. Each command's stderr is folded into its section: the parsers skip lines they do not recognise, and an
// error message is kept for the report.
const script = `export LC_ALL=C
m() { echo "@@infra-pkg $*"; }
now=$(date +%s)
m now "$now"
pm=none
for c in apt-get dnf yum apk pacman; do
  if command -v "$c" >/dev/null 2>&1; then pm=$c; break; fi
done
[ "$pm" = apt-get ] && pm=apt
m manager "$pm"
mtimes() {
  for f in "$@"; do
    [ -e "$f" ] && stat -c %Y "$f" 2>/dev/null
  done
}
case $pm in
apt)
  m begin upgrade; apt-get -s -o Debug::NoLocking=1 -o APT::Get::Show-User-Simulation-Note=false dist-upgrade 2>&1; m end upgrade $?
  lists=/var/lib/apt/lists
  eval "$(apt-config shell lists Dir::State::Lists/d 2>/dev/null)"
  m begin lists; mtimes "$lists"/*_InRelease "$lists"/*_Release; m end lists 0
  ;;
dnf|yum)
  m begin upgrade; $pm -q -C check-update 2>&1; m end upgrade $?
  m begin security; $pm -q -C updateinfo list --security 2>&1; m end security $?
  m begin installed; rpm -qa --qf '%{NAME}.%{ARCH} %{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' 2>&1; m end installed $?
  m begin lists; mtimes /var/cache/dnf/*/repodata/repomd.xml /var/cache/yum/*/*/*/repomd.xml /var/cache/yum/*/repomd.xml; m end lists 0
  ;;
apk)
  m begin upgrade; apk -u list 2>&1; m end upgrade $?
  m begin lists; mtimes /var/cache/apk/APKINDEX.*.tar.gz /etc/apk/cache/APKINDEX.*.tar.gz; m end lists 0
  ;;
pacman)
  m begin upgrade; pacman -Qu 2>&1; m end upgrade $?
  m begin lists; mtimes /var/lib/pacman/sync/*.db; m end lists 0
  ;;
esac
m begin reboot
if [ -e /var/run/reboot-required ]; then
  echo required
  [ -r /var/run/reboot-required.pkgs ] && sed 's/^/pkg /' /var/run/reboot-required.pkgs
elif command -v needs-restarting >/dev/null 2>&1; then
  needs-restarting -r >/dev/null 2>&1
  case $? in 0) echo not-required ;; 1) echo required ;; *) echo unknown ;; esac
elif [ "$pm" = pacman ] || [ "$pm" = apk ]; then
  # The running kernel's modules disappear when the kernel package is upgraded.
  if [ -d "/lib/modules/$(uname -r)" ] || [ -d "/usr/lib/modules/$(uname -r)" ]; then echo not-required; else echo required; fi
elif [ "$pm" = apt ]; then
  echo not-required
else
  echo unknown
fi
m end reboot 0
`

// Script returns the POSIX sh script, sent on the standard input of `sh -s`, that detects the package manager
// and collects pending updates, the age of the package lists and whether a reboot is required. It takes no
// arguments, so nothing from a caller reaches the shell.
func Script() string { return script }
