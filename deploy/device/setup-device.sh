#!/bin/sh
# Prepares a device for Infrastructor: an unprivileged monitoring account that the worker logs in to with its
# key, and nothing more unless asked. Run as root on the device (POSIX sh; works with busybox). Safe to repeat.
#
#   sh setup-device.sh -k /path/to/worker_key.pub --from WORKER_ADDRESS [options]
#   curl .../worker_key.pub | sh setup-device.sh -k - --from WORKER_ADDRESS [options]
#
# Options:
#   -u NAME          account name (default: monitor)
#   -k KEY           the worker's public key: a file, or - to read it from standard input (required)
#   --from LIST      accept the key only from these addresses: the worker's (sshd's from="..." patterns, e.g.
#                    100.101.102.103 or 100.64.0.0/10). Required; --from any accepts it from anywhere
#   --read-only      this key may only monitor: the wrapper refuses container, compose and image actions
#                    (mark the device "read_only": true in Infrastructor too)
#   --docker         add the account to group docker, for container management. WARNING: access to the Docker
#                    socket equals root on this device (a container can mount / and run as root); prefer a
#                    socket proxy (deploy/device/README.md)
#   --smartctl       allow read-only smartctl calls as root through sudo, for drive health
#   --systemctl LIST allow start, stop, restart and reload of exactly these systemd units (comma-separated, e.g.
#                    nginx.service,smbd.service) as root through sudo, for service actions (set "use_sudo": true
#                    on the device in Infrastructor)
#   --zfs-scrub      allow starting and stopping scrubs of any pool (zpool scrub [-s] POOL) as root through sudo,
#                    for pool scrubs (set "use_sudo": true on the device in Infrastructor)
#   --smart-selftest allow starting (smartctl -t short|long) and aborting (smartctl -X) drive self-tests on /dev
#                    paths as root through sudo
#   --package-refresh allow refreshing the package lists (exactly apt-get -q update, dnf -q makecache,
#                    yum -q makecache or apk -q update, for the managers installed) as root through sudo
#   --virsh          allow start, shutdown, destroy, reboot, suspend and resume of any VM on qemu:///system
#                    (virsh -c qemu:///system ACTION --domain NAME) as root through sudo, for VM actions
#   --jump-host LIST this device is the jump host for others: allow TCP forwarding to exactly these
#                    host:port targets (comma-separated, e.g. 192.168.1.20:22,192.168.1.21:22)
#   --wrapper FILE   the forced-command wrapper to install (default: infrastructor-wrapper.sh next to this
#                    script; `infrastructor device-wrapper` prints the one of your release)
#   --wrapper-log F  also log the wrapper's refusals to file F (they go to syslog through logger anyway)
#   --no-wrapper     no forced command: the key may run any command as the account (not recommended)
#   --root DIR       act on the system installed under DIR instead of / (images, tests)
#   -h               this help
#
# The key is installed with `restrict` (no pty, no forwarding, no agent or X11) and a forced command,
# command="/usr/local/lib/infrastructor/device-wrapper": whatever the client asks for, sshd runs the wrapper,
# which runs only the commands Infrastructor sends (the poll script, the docker and compose commands it builds,
# arguments checked) and refuses and logs everything else. deploy/device/README.md explains it.
set -eu

NAME=monitor
KEY_SRC=""
FROM=""
FROM_SET=0
READ_ONLY=0
DOCKER=0
SMARTCTL=0
SYSTEMCTL_UNITS=""
ZFS_SCRUB=0
SMART_SELFTEST=0
PACKAGE_REFRESH=0
VIRSH=0
JUMP=""
WRAPPER_SRC="$(dirname "$0")/infrastructor-wrapper.sh"
WRAPPER_LOG=""
NO_WRAPPER=0
ROOT=""
# Where the wrapper is installed on the device: root-owned, so the account cannot change what it allows.
WRAPPER_PATH=/usr/local/lib/infrastructor/device-wrapper

say() { printf 'setup-device: %s\n' "$*" >&2; }
die() {
	printf 'setup-device: error: %s\n' "$*" >&2
	exit 1
}
usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit "$1"
}

while [ $# -gt 0 ]; do
	case "$1" in
	-u)
		[ $# -ge 2 ] || die "-u needs a name"
		NAME=$2
		shift 2
		;;
	-k)
		[ $# -ge 2 ] || die "-k needs a file or -"
		KEY_SRC=$2
		shift 2
		;;
	--from)
		[ $# -ge 2 ] || die "--from needs a pattern list (the worker's address) or any"
		FROM=$2
		FROM_SET=1
		shift 2
		;;
	--read-only)
		READ_ONLY=1
		shift
		;;
	--wrapper)
		[ $# -ge 2 ] || die "--wrapper needs a file"
		WRAPPER_SRC=$2
		shift 2
		;;
	--wrapper-log)
		[ $# -ge 2 ] || die "--wrapper-log needs a file"
		WRAPPER_LOG=$2
		shift 2
		;;
	--no-wrapper)
		NO_WRAPPER=1
		shift
		;;
	--docker)
		DOCKER=1
		shift
		;;
	--smartctl)
		SMARTCTL=1
		shift
		;;
	--systemctl)
		[ $# -ge 2 ] || die "--systemctl needs the units to allow, e.g. nginx.service,smbd.service"
		SYSTEMCTL_UNITS=$2
		shift 2
		;;
	--zfs-scrub)
		ZFS_SCRUB=1
		shift
		;;
	--smart-selftest)
		SMART_SELFTEST=1
		shift
		;;
	--package-refresh)
		PACKAGE_REFRESH=1
		shift
		;;
	--virsh)
		VIRSH=1
		shift
		;;
	--jump-host)
		[ $# -ge 2 ] || die "--jump-host needs the host:port targets the worker reaches through this device"
		JUMP=$2
		shift 2
		;;
	--root)
		[ $# -ge 2 ] || die "--root needs a directory"
		ROOT=${2%/}
		shift 2
		;;
	-h | --help) usage 0 ;;
	*) die "unknown option $1 (-h for help)" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "run as root (it creates an account and writes into its home)"
[ -n "$KEY_SRC" ] || die "the worker's public key is required: -k FILE or -k - (see -h)"
[ -z "$ROOT" ] || [ -d "$ROOT/etc" ] || die "--root $ROOT: no etc/ there"

# Account names as useradd accepts them by default; the name ends up in sudoers and file paths.
case "$NAME" in
"" | [!a-z_]* | *[!a-z0-9_-]*) die "account name '$NAME': want lower-case letters, digits, '_' or '-', not starting with a digit or '-'" ;;
esac
[ ${#NAME} -le 32 ] || die "account name '$NAME' is longer than 32 characters"
# from= by default: a stolen worker key is useless from elsewhere. "any" is the explicit opt-out.
[ "$FROM_SET" = 1 ] || die "--from is required: the worker's address(es), e.g. --from 100.101.102.103 (or --from any)"
[ -n "$FROM" ] || die "--from needs the worker's address(es) (or any)"
[ "$FROM" != any ] || FROM=""
# from="..." must not break out of its quotes or add options.
case "$FROM" in
*[!0-9A-Za-z.:/*?!,_-]*) die "--from '$FROM': want address patterns such as 192.0.2.0/24,100.64.0.0/10" ;;
esac
# permitopen="host:port" per jump target; the same rule keeps each inside its quotes.
PERMIT=""
if [ -n "$JUMP" ]; then
	# IPv4 addresses and DNS names only: sshd's permitopen wants IPv6 addresses in brackets, which this check
	# keeps out for simplicity.
	set -f
	old_ifs=$IFS
	IFS=,
	for target in $JUMP; do
		host=${target%:*}
		port=${target##*:}
		case "$host:$port" in
		"$target") ;;
		*) host="" ;;
		esac
		case "$host" in
		"" | "$target" | *[!0-9A-Za-z.-]*) die "--jump-host target '$target': want host:port, e.g. 192.168.1.20:22" ;;
		esac
		case "$port" in
		"" | *[!0-9]*) die "--jump-host target '$target': want host:port, e.g. 192.168.1.20:22" ;;
		esac
		PERMIT="$PERMIT,permitopen=\"$host:$port\""
	done
	IFS=$old_ifs
	set +f
	[ -n "$PERMIT" ] || die "--jump-host needs at least one host:port target"
fi
case "$WRAPPER_LOG" in
"" | /*) ;;
*) die "--wrapper-log '$WRAPPER_LOG': want an absolute path" ;;
esac
case "$WRAPPER_LOG" in
*[!0-9A-Za-z./_-]*) die "--wrapper-log '$WRAPPER_LOG': letters, digits, '.', '_', '-' and '/' only" ;;
esac
if [ "$NO_WRAPPER" = 1 ]; then
	[ "$READ_ONLY" = 0 ] || die "--read-only needs the wrapper (it is what refuses the operations)"
else
	[ -r "$WRAPPER_SRC" ] || die "cannot read the wrapper $WRAPPER_SRC (--wrapper FILE; infrastructor device-wrapper prints it)"
	head -n 2 "$WRAPPER_SRC" | grep -q '^# Infrastructor device wrapper' || die "$WRAPPER_SRC is not the Infrastructor device wrapper"
	sh -n "$WRAPPER_SRC" || die "$WRAPPER_SRC does not parse"
fi

# --- the key ---------------------------------------------------------------------------------------------------

if [ "$KEY_SRC" = - ]; then
	KEY=$(cat)
else
	[ -r "$KEY_SRC" ] || die "cannot read public key file $KEY_SRC"
	KEY=$(cat "$KEY_SRC")
fi
# One line, "type base64 [comment]", of a type OpenSSH accepts. Options in front are refused: this script sets them.
KEY=$(printf '%s\n' "$KEY" | sed '/^[[:space:]]*$/d')
[ "$(printf '%s\n' "$KEY" | wc -l)" -eq 1 ] || die "want exactly one public key line"
KEY_TYPE=${KEY%% *}
KEY_REST=${KEY#* }
KEY_BLOB=${KEY_REST%% *}
case "$KEY_TYPE" in
ssh-ed25519 | ssh-rsa | ecdsa-sha2-nistp256 | ecdsa-sha2-nistp384 | ecdsa-sha2-nistp521 | sk-ssh-ed25519@openssh.com | sk-ecdsa-sha2-nistp256@openssh.com) ;;
*) die "not an OpenSSH public key (type '$KEY_TYPE'); give the .pub file, e.g. the worker's id_ed25519.pub" ;;
esac
case "$KEY_BLOB" in
"" | *[!A-Za-z0-9+/=]*) die "the public key's base64 part is malformed" ;;
esac
case "$KEY" in
*\"* | *\\*) die "the key's comment must not contain quotes or backslashes" ;;
esac

OPTIONS=restrict
[ -z "$FROM" ] || OPTIONS="$OPTIONS,from=\"$FROM\""
[ -z "$JUMP" ] || OPTIONS="$OPTIONS,port-forwarding$PERMIT"
if [ "$NO_WRAPPER" = 0 ]; then
	COMMAND=$WRAPPER_PATH
	[ "$READ_ONLY" = 0 ] || COMMAND="$COMMAND --read-only"
	[ -z "$WRAPPER_LOG" ] || COMMAND="$COMMAND --log $WRAPPER_LOG"
	OPTIONS="$OPTIONS,command=\"$COMMAND\""
fi

# --- the account -----------------------------------------------------------------------------------------------

passwd_field() { # NAME FIELD: a field of NAME's line in the passwd file under ROOT
	awk -F: -v n="$1" -v f="$2" '$1 == n { print $f; exit }' "$ROOT/etc/passwd"
}

if [ -z "$(passwd_field "$NAME" 1)" ]; then
	if command -v useradd >/dev/null 2>&1; then
		say "creating account $NAME"
		if [ -n "$ROOT" ]; then
			useradd --root "$ROOT" --create-home --shell /bin/sh --comment "Infrastructor monitoring" "$NAME"
		else
			useradd --create-home --shell /bin/sh --comment "Infrastructor monitoring" "$NAME"
		fi
	elif command -v adduser >/dev/null 2>&1 && [ -z "$ROOT" ]; then
		say "creating account $NAME (busybox adduser)"
		adduser -D -s /bin/sh -g "Infrastructor monitoring" "$NAME"
	else
		die "neither useradd nor adduser found (with --root, useradd is needed)"
	fi
else
	say "account $NAME exists; updating its key and groups"
fi
[ -n "$(passwd_field "$NAME" 1)" ] || die "account $NAME was not created"

# A new account is locked ('!' in shadow). sshd refuses locked accounts even for key logins when it does not use
# PAM, so the password field becomes '*': no password can match it, and key logins work.
if [ -f "$ROOT/etc/shadow" ]; then
	tmp="$ROOT/etc/shadow.setup-device.$$"
	awk -F: -v OFS=: -v n="$NAME" '$1 == n && $2 ~ /^!/ { $2 = "*" } { print }' "$ROOT/etc/shadow" >"$tmp"
	chmod --reference="$ROOT/etc/shadow" "$tmp" 2>/dev/null || chmod 640 "$tmp"
	chown "$(stat -c %u:%g "$ROOT/etc/shadow")" "$tmp" 2>/dev/null || true
	mv "$tmp" "$ROOT/etc/shadow"
fi

HOME_DIR=$(passwd_field "$NAME" 6)
USER_ID=$(passwd_field "$NAME" 3)
GROUP_ID=$(passwd_field "$NAME" 4)
if [ -z "$HOME_DIR" ] || [ "$HOME_DIR" = / ]; then
	die "account $NAME has no home directory"
fi
SSH_DIR="$ROOT$HOME_DIR/.ssh"
AUTH="$SSH_DIR/authorized_keys"
mkdir -p "$SSH_DIR"
touch "$AUTH"
# sshd's StrictModes: the home, .ssh and the file must not be writable by others.
chmod go-w "$ROOT$HOME_DIR"
chmod 700 "$SSH_DIR"
chmod 600 "$AUTH"
# Replace an earlier line for the same key (other keys stay), so repeated runs change the options in place.
tmp="$AUTH.setup-device.$$"
grep -v -F " $KEY_BLOB" "$AUTH" >"$tmp" || true
printf '%s %s\n' "$OPTIONS" "$KEY" >>"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$AUTH"
chown "$USER_ID:$GROUP_ID" "$ROOT$HOME_DIR" "$SSH_DIR" "$AUTH"
say "installed the key in $HOME_DIR/.ssh/authorized_keys with: $OPTIONS"

# --- the wrapper -----------------------------------------------------------------------------------------------

if [ "$NO_WRAPPER" = 0 ]; then
	mkdir -p "$ROOT$(dirname "$WRAPPER_PATH")"
	tmp="$ROOT$WRAPPER_PATH.setup-device.$$"
	cp "$WRAPPER_SRC" "$tmp"
	chown 0:0 "$tmp"
	chmod 755 "$tmp"
	mv "$tmp" "$ROOT$WRAPPER_PATH"
	say "installed the command wrapper $WRAPPER_PATH$([ "$READ_ONLY" = 0 ] || echo ' (this key: read-only)')"
	if [ -n "$WRAPPER_LOG" ]; then
		mkdir -p "$ROOT$(dirname "$WRAPPER_LOG")"
		touch "$ROOT$WRAPPER_LOG"
		chown "$USER_ID:$GROUP_ID" "$ROOT$WRAPPER_LOG"
		chmod 600 "$ROOT$WRAPPER_LOG"
	fi
else
	say "WARNING: --no-wrapper: this key may run any command as $NAME"
fi

# --- optional access -------------------------------------------------------------------------------------------

if [ "$DOCKER" = 1 ]; then
	grep -q '^docker:' "$ROOT/etc/group" || die "group docker does not exist (is Docker installed?)"
	if command -v usermod >/dev/null 2>&1; then
		if [ -n "$ROOT" ]; then usermod --root "$ROOT" -a -G docker "$NAME"; else usermod -a -G docker "$NAME"; fi
	else
		addgroup "$NAME" docker
	fi
	say "WARNING: $NAME is now in group docker. Access to the Docker socket equals root on this device: anyone"
	say "         holding the worker's key can start a container that mounts / and runs as root."
fi

if [ "$SMARTCTL" = 1 ]; then
	SMARTCTL_PATH=/usr/sbin/smartctl
	[ -x "$ROOT$SMARTCTL_PATH" ] || say "note: $SMARTCTL_PATH not found; install smartmontools"
	command -v sudo >/dev/null 2>&1 || [ -n "$ROOT" ] || say "note: sudo is not installed; drive health needs it"
	# Only read-only arguments (JSON output, identity, health, attributes, scanning, standby check, device type,
	# device paths) are allowed: no -s/-t/-B/--log or anything that changes a drive or reads other files.
	# The ^...$ regular expression needs sudo 1.9.10 or newer.
	T='(-[jaxHiAn]+|--json|--all|--xall|--health|--info|--scan|--scan-open|-d [a-z0-9_+]+|standby|/dev/[A-Za-z0-9_/-]+)'
	mkdir -p "$ROOT/etc/sudoers.d"
	SUDOERS="$ROOT/etc/sudoers.d/infrastructor-$NAME"
	tmp="$ROOT/etc/sudoers.d/.infrastructor-$NAME.tmp"
	{
		echo "# Drive health for Infrastructor (deploy/device/setup-device.sh): read-only smartctl as root."
		printf '%s ALL=(root) NOPASSWD: %s ^%s( %s)*$\n' "$NAME" "$SMARTCTL_PATH" "$T" "$T"
	} >"$tmp"
	chmod 440 "$tmp"
	if command -v visudo >/dev/null 2>&1 && ! visudo -cqf "$tmp" >/dev/null 2>&1; then
		rm -f "$tmp"
		die "visudo rejects the smartctl rule (sudo older than 1.9.10?); add by hand: $NAME ALL=(root) NOPASSWD: $SMARTCTL_PATH"
	fi
	mv "$tmp" "$SUDOERS"
	say "allowed read-only smartctl through sudo ($SUDOERS)"
fi

if [ -n "$SYSTEMCTL_UNITS" ]; then
	SYSTEMCTL_PATH=/usr/bin/systemctl
	[ -x "$ROOT$SYSTEMCTL_PATH" ] || [ ! -x "$ROOT/bin/systemctl" ] || SYSTEMCTL_PATH=/bin/systemctl
	# Exactly what the worker sends (internal/systemd.ActionScript): systemctl ACTION --no-ask-password -- UNIT, for
	# the listed units only. Unit names are checked here (no backslash escapes) so none can widen the rule.
	alts=""
	for u in $(printf '%s' "$SYSTEMCTL_UNITS" | tr ',' ' '); do
		case $u in
		*[!A-Za-z0-9_.@-]* | @* | .* | '') die "--systemctl: $u is not a unit name such as nginx.service" ;;
		*.service | *.socket | *.target | *.mount | *.timer | *.path | *.slice | *.swap | *.automount) ;;
		*) die "--systemctl: $u needs its type, e.g. $u.service" ;;
		esac
		alts="$alts${alts:+|}$(printf '%s' "$u" | sed 's/\./\\./g')"
	done
	mkdir -p "$ROOT/etc/sudoers.d"
	SUDOERS_UNITS="$ROOT/etc/sudoers.d/infrastructor-$NAME-systemctl"
	tmp="$ROOT/etc/sudoers.d/.infrastructor-$NAME-systemctl.tmp"
	{
		echo "# Service actions for Infrastructor (deploy/device/setup-device.sh): these units only."
		printf '%s ALL=(root) NOPASSWD: %s ^(start|stop|restart|reload) --no-ask-password -- (%s)$\n' "$NAME" "$SYSTEMCTL_PATH" "$alts"
	} >"$tmp"
	chmod 440 "$tmp"
	if command -v visudo >/dev/null 2>&1 && ! visudo -cqf "$tmp" >/dev/null 2>&1; then
		rm -f "$tmp"
		die "visudo rejects the systemctl rule (sudo older than 1.9.10?)"
	fi
	mv "$tmp" "$SUDOERS_UNITS"
	say "allowed systemctl start/stop/restart/reload of $SYSTEMCTL_UNITS through sudo ($SUDOERS_UNITS)"
fi

# sudo_rule SUFFIX WHAT LINE...: writes the rule LINEs (with a comment naming WHAT) to
# /etc/sudoers.d/infrastructor-NAME-SUFFIX after visudo accepts them. The ^...$ argument patterns need sudo 1.9.10
# or newer; in them '\:' and '\,' are sudoers' escapes for ':' and ','.
sudo_rule() {
	suffix=$1
	what=$2
	shift 2
	mkdir -p "$ROOT/etc/sudoers.d"
	rule_file="$ROOT/etc/sudoers.d/infrastructor-$NAME-$suffix"
	tmp="$ROOT/etc/sudoers.d/.infrastructor-$NAME-$suffix.tmp"
	{
		echo "# Infrastructor (deploy/device/setup-device.sh): $what as root."
		for line in "$@"; do
			printf '%s ALL=(root) NOPASSWD: %s\n' "$NAME" "$line"
		done
	} >"$tmp"
	chmod 440 "$tmp"
	if command -v visudo >/dev/null 2>&1 && ! visudo -cqf "$tmp" >/dev/null 2>&1; then
		rm -f "$tmp"
		die "visudo rejects the $suffix rule (sudo older than 1.9.10?)"
	fi
	mv "$tmp" "$rule_file"
	say "allowed $what through sudo ($rule_file)"
}

# tool_path NAME DEFAULT: the full path of NAME under ROOT in the usual directories, DEFAULT when it is in none.
tool_path() {
	for d in /usr/sbin /usr/bin /sbin /bin; do
		if [ -x "$ROOT$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
	echo "$2"
}

if [ "$ZFS_SCRUB" = 1 ]; then
	ZPOOL_PATH=$(tool_path zpool /usr/sbin/zpool)
	[ -x "$ROOT$ZPOOL_PATH" ] || say "note: zpool not found; install the ZFS utilities"
	# Exactly what the worker sends (internal/zfs.ScrubCommand, ScrubStopCommand): scrub [-s] POOL, with pool
	# names as the product validates them.
	sudo_rule zfs-scrub "pool scrubs (zpool scrub [-s] POOL)" \
		"$ZPOOL_PATH ^scrub( -s)? [A-Za-z][A-Za-z0-9_.\\:-]*\$"
fi

if [ "$SMART_SELFTEST" = 1 ]; then
	SMARTCTL_PATH=$(tool_path smartctl /usr/sbin/smartctl)
	[ -x "$ROOT$SMARTCTL_PATH" ] || say "note: smartctl not found; install smartmontools"
	# Exactly what the worker sends (internal/smart.SelfTestCommand, AbortSelfTestCommand): -t short|long or -X,
	# an optional device type, one /dev path.
	sudo_rule smart-selftest "drive self-tests (smartctl -t short|long, -X)" \
		"$SMARTCTL_PATH ^(-t (short|long)|-X)( -d [a-z0-9_+\\,]+)? /dev/[A-Za-z0-9_/-]+\$"
fi

if [ "$PACKAGE_REFRESH" = 1 ]; then
	# Exactly the refresh the worker sends (internal/pkgupdate.RefreshScript) for each manager installed: no other
	# arguments, so nothing is installed or upgraded.
	set --
	for m in "apt-get -q update" "dnf -q makecache" "yum -q makecache" "apk -q update"; do
		p=$(tool_path "${m%% *}" "")
		[ -z "$p" ] || set -- "$@" "$p ${m#* }"
	done
	[ $# -gt 0 ] || die "--package-refresh: none of apt-get, dnf, yum or apk is installed"
	sudo_rule package-refresh "package list refresh" "$@"
fi

if [ "$VIRSH" = 1 ]; then
	VIRSH_PATH=$(tool_path virsh /usr/bin/virsh)
	[ -x "$ROOT$VIRSH_PATH" ] || say "note: virsh not found; install the libvirt clients"
	# Exactly what the worker sends (internal/virsh.ActionCommand): the system connection, one action, one domain
	# named as the product validates it.
	sudo_rule virsh "VM actions (virsh -c qemu:///system ACTION --domain NAME)" \
		"$VIRSH_PATH ^-c qemu\\:///system (start|shutdown|destroy|reboot|suspend|resume) --domain [A-Za-z0-9][A-Za-z0-9_.+\\:@-]*\$"
fi

say "done. Add the device with \"user\": \"$NAME\"; approve its host key on first contact."
