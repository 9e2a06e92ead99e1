package collector

// Section names printed by Script, one marker line each. Parse ignores
// sections it does not know so the script can grow without breaking older
// parsers.
const (
	SectionTime      = "time"
	SectionUptime    = "uptime"
	SectionStat      = "stat"
	SectionMeminfo   = "meminfo"
	SectionLoadavg   = "loadavg"
	SectionNetDev    = "netdev"
	SectionDiskstats = "diskstats"
	SectionMounts    = "mounts"
	SectionARCStats  = "arcstats"
	SectionProcs     = "procs"
	SectionHwmon     = "hwmon"
	SectionThermal   = "thermal"
	SectionOSRelease = "os_release"
	SectionCaps      = "caps"
	SectionDF        = "df"
	SectionDFInodes  = "df_inodes"
	SectionEnd       = "end"
)

// markerPrefix starts every section marker line. A marker is a whole line
// "@@infra:<name>@@", or "@@infra:<name>:na@@" when the source does not exist
// on the device. No /proc or /sys file has a line starting with "@@"; the
// only free-form files the script prints (os-release, unraid-version) are
// filtered to KEY=VALUE lines, so a marker cannot be forged by file contents.
const markerPrefix = "@@infra:"

// Script is the POSIX sh program run once per poll in one SSH session (feed it
// to `sh -c` or on the standard input of `sh -s`). It works on dash, bash and
// BusyBox ash, prints only to stdout (stderr is discarded so a missing file
// never adds noise), never aborts on a missing file, and ends with an "end"
// marker so a truncated output is detected instead of parsed as a smaller
// machine.
//
// df runs last because it is the only command that can block (stat of a hung
// network mount); the caller's deadline covers that case and Parse reports the
// missing end marker as ErrTruncated.
const Script = `export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin
exec 2>/dev/null
_m() { printf '@@infra:%s@@\n' "$1"; }
_f() { if [ -r "$2" ]; then _m "$1"; cat "$2"; echo; else _m "$1:na"; fi; }
_m time
t=$(date +%s.%N)
case $t in *[!0-9.]*|*.|.*|'') t=$(date +%s) ;; esac
echo "$t"
_f uptime /proc/uptime
_f stat /proc/stat
_f meminfo /proc/meminfo
_f loadavg /proc/loadavg
_f netdev /proc/net/dev
_f diskstats /proc/diskstats
_f mounts /proc/mounts
_f arcstats /proc/spl/kstat/zfs/arcstats
_m procs
set -- /proc/[0-9]*
echo $#
_m hwmon
for p in /sys/class/hwmon/hwmon*/temp*_input /sys/class/hwmon/hwmon*/device/temp*_input; do
  [ -r "$p" ] || continue
  d=${p%/*}; b=${p##*/}; b=${b%_input}; v=; l=
  if [ "$d" != "$pd" ]; then
    pd=$d; n=; dv=
    [ -r "$d/name" ] && read -r n <"$d/name"
    [ -d "$d/device" ] && dv=$(cd -P "$d/device" && pwd -P)
  fi
  read -r v <"$p"
  [ -r "$d/${b}_label" ] && read -r l <"$d/${b}_label"
  printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$n" "${dv##*/}" "$v" "$l"
done
_m thermal
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] || continue
  v=; ty=
  read -r v <"$z/temp"
  [ -r "$z/type" ] && read -r ty <"$z/type"
  printf '%s\t%s\t%s\n' "${z##*/}" "$v" "$ty"
done
o=/etc/os-release
[ -r $o ] || o=/usr/lib/os-release
if [ -r $o ]; then _m os_release; grep -E '^[A-Za-z0-9_]+=' $o; else _m os_release:na; fi
_m caps
printf 'uname='; uname -srm
[ -r /proc/sys/kernel/hostname ] && { printf 'hostname='; cat /proc/sys/kernel/hostname; }
for c in docker zfs zpool smartctl systemctl; do printf 'cmd_%s=' $c; command -v $c || echo; done
[ -d /run/systemd/system ] && echo systemd_running=1
[ -r /etc/unraid-version ] && grep -E '^[A-Za-z0-9_]+=' /etc/unraid-version | sed 's/^/unraid_/'
[ -r /proc/device-tree/model ] && { printf 'board='; tr -d '\000\n' </proc/device-tree/model; echo; }
sed -n 's/^model name[[:space:]]*:[[:space:]]*/cpu_model=/p; s/^cpu model[[:space:]]*:[[:space:]]*/cpu_model=/p; s/^Hardware[[:space:]]*:[[:space:]]*/cpu_hardware=/p; s/^Model[[:space:]]*:[[:space:]]*/cpu_board=/p' /proc/cpuinfo | uniq
_m df
df -P -k
_m df_inodes
df -P -i
_m end
`
