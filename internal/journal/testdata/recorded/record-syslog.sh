#!/bin/sh
# Records real syslog files for the parser tests: busybox syslogd (its file and its logread ring buffer) and,
# when installed, rsyslogd with its traditional and high-precision file formats. Messages are sent with
# util-linux logger and busybox logger. It binds /dev/log while it runs, so run it only where no other syslog
# daemon is running:  sh testdata/recorded/record-syslog.sh testdata/recorded
set -eu
out=${1:?output directory}
out=$(cd "$out" && pwd)
[ -e /dev/log ] && { echo "/dev/log exists: another syslog daemon is running" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -f /dev/log; rm -rf "$tmp"' EXIT

send() {
	logger -t nginx -p daemon.info "started worker process 813"
	logger -t nginx -p daemon.err -i "connect() failed (111: Connection refused) while connecting to upstream"
	busybox logger -t smbd -p daemon.warning "$(printf 'escape \033[31mred\033[0m and tab\there')"
	logger -t kernel -p kern.crit "Out of memory: Killed process 4242 (java)"
	logger -t dockerd -p daemon.debug "Grüße aus dem Container ✓"
	busybox logger -p user.notice "message from busybox logger without a tag option"
	logger --rfc5424 -t app5424 -p local0.warning "an RFC 5424 message"
	sleep 1
}

wait_socket() {
	i=0
	while [ ! -S /dev/log ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

# busybox syslogd: first writing a file in its format, then (-C) into the shared-memory ring buffer that
# logread prints; with -C it writes no file.
busybox syslogd -n -O "$tmp/busybox-messages" & pid=$!
wait_socket
send
kill $pid; wait $pid 2>/dev/null || true; rm -f /dev/log
cp "$tmp/busybox-messages" "$out/busybox-syslogd.txt"
busybox syslogd -n -C64 & pid=$!
wait_socket
send
busybox logread >"$out/logread.txt"
kill $pid; wait $pid 2>/dev/null || true; rm -f /dev/log

if command -v rsyslogd >/dev/null 2>&1; then
	cat >"$tmp/rsyslog.conf" <<CONF
module(load="imuxsock" SysSock.Name="/dev/log")
\$WorkDirectory $tmp
*.* action(type="omfile" file="$tmp/syslog-traditional" template="RSYSLOG_TraditionalFileFormat")
*.* action(type="omfile" file="$tmp/syslog-precise" template="RSYSLOG_FileFormat")
CONF
	rsyslogd -n -f "$tmp/rsyslog.conf" -i "$tmp/rsyslogd.pid" & pid=$!
	wait_socket
	send
	sleep 1
	kill $pid; wait $pid 2>/dev/null || true
	cp "$tmp/syslog-traditional" "$out/rsyslog-traditional.txt"
	cp "$tmp/syslog-precise" "$out/rsyslog-precise.txt"
fi
