#!/bin/sh
# Prepares a device for Infrastructor: an unprivileged monitoring account that the worker logs in to with its
# key, and nothing more unless asked. Run as root on the device (POSIX sh; works with busybox). Safe to repeat.
#
#   sh setup-device.sh -k /path/to/worker_key.pub [options]
#   curl .../worker_key.pub | sh setup-device.sh -k - [options]
#
# Options:
#   -u NAME        account name (default: monitor)
#   -k KEY         the worker's public key: a file, or - to read it from standard input (required)
#   --from LIST    accept the key only from these addresses (sshd's from="..." patterns, e.g. 100.64.0.0/10)
#   --docker       add the account to group docker, for container management. WARNING: access to the Docker
#                  socket equals root on this device (a container can mount / and run as root).
#   --smartctl     allow read-only smartctl calls as root through sudo, for drive health
#   --jump-host    allow TCP forwarding, only if Infrastructor reaches other devices through this one
#   --root DIR     act on the system installed under DIR instead of / (images, tests)
#   -h             this help
#
# The key is installed with `restrict` (no pty, no forwarding, no agent or X11): the worker only runs commands.
# A forced command (command="...") is not used because the worker runs several different commands (the poll
# script through `sh -s`, docker ps/inspect/stats and container actions, smartctl, log reads); deploy/README.md
# explains this and what limits the account instead.
set -eu

NAME=monitor
KEY_SRC=""
FROM=""
DOCKER=0
SMARTCTL=0
JUMP=0
ROOT=""

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
		[ $# -ge 2 ] || die "--from needs a pattern list"
		FROM=$2
		shift 2
		;;
	--docker)
		DOCKER=1
		shift
		;;
	--smartctl)
		SMARTCTL=1
		shift
		;;
	--jump-host)
		JUMP=1
		shift
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
# from="..." must not break out of its quotes or add options.
case "$FROM" in
*[!0-9A-Za-z.:/*?!,_-]*) die "--from '$FROM': want address patterns such as 192.0.2.0/24,100.64.0.0/10" ;;
esac

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
[ "$JUMP" = 0 ] || OPTIONS="$OPTIONS,port-forwarding"

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

say "done. Add the device with \"user\": \"$NAME\"; approve its host key on first contact."
