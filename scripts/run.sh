#!/usr/bin/env bash
# Runs the whole Infrastructor system on this machine: a private PostgreSQL cluster, the Temporal dev server with
# its UI, and `infrastructor up` (migrations, worker and HTTP server in one process). Ctrl-C or SIGTERM stops every
# process this script started, by PID. Data lives in $INFRA_DATA_DIR (default .data) and is reused on the next run.
#
# Used by `make run`. Settings (besides the INFRA_* variables the binary reads):
#   INFRA_PG_PORT           port of the private PostgreSQL cluster (default 9100)
#   INFRA_DATABASE_URL      when set, that database is used and no local cluster is started
#   INFRA_TEMPORAL_ADDRESS  when something already answers there, it is used and no dev server is started
#   INFRA_TEMPORAL_UI_PORT  port of the dev server's UI (default 8233)
#   TEMPORAL                dev (default): the Temporal dev server on SQLite; postgres: the production Temporal
#                           server on the same PostgreSQL, with its UI (scripts/temporal-postgres.sh;
#                           `make run TEMPORAL=postgres`). INFRA_RUN_TEMPORAL takes precedence.
# shellcheck disable=SC2317 # functions run indirectly (traps, wait_until)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPORAL_CLI_MODULE="${TEMPORAL_CLI_MODULE:-github.com/temporalio/cli/cmd/temporal}"
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"

# Start-up bounds in seconds. Generous, since the first run may compete with a build for two cores.
PG_START_TIMEOUT=120
TEMPORAL_START_TIMEOUT=180
INFRA_READY_TIMEOUT=180
STOP_TIMEOUT=30

INFRA_PID=""
TEMPORAL_PID=""
TEMPORAL_UI_PID="" # TEMPORAL=postgres only: the UI is a process of its own there
PG_STARTED=0

log() { printf '[run] %s\n' "$*" >&2; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

# --- settings ------------------------------------------------------------------------------------------------------

INFRA_DATA_DIR="${INFRA_DATA_DIR:-$ROOT/.data}"
mkdir -p "$INFRA_DATA_DIR"
INFRA_DATA_DIR="$(cd "$INFRA_DATA_DIR" && pwd)"
export INFRA_DATA_DIR
LOG_DIR="$INFRA_DATA_DIR/logs"
mkdir -p "$LOG_DIR"

INFRA_PG_PORT="${INFRA_PG_PORT:-9100}"
START_PG=1
if [[ -n "${INFRA_DATABASE_URL:-}" ]]; then
	START_PG=0
else
	export INFRA_DATABASE_URL="postgres://infrastructor@127.0.0.1:${INFRA_PG_PORT}/infrastructor?sslmode=disable"
fi
export INFRA_TEMPORAL_ADDRESS="${INFRA_TEMPORAL_ADDRESS:-127.0.0.1:7233}"
TEMPORAL_HOST="${INFRA_TEMPORAL_ADDRESS%:*}"
TEMPORAL_PORT="${INFRA_TEMPORAL_ADDRESS##*:}"
INFRA_TEMPORAL_UI_PORT="${INFRA_TEMPORAL_UI_PORT:-8233}"
export INFRA_TEMPORAL_UI_URL="${INFRA_TEMPORAL_UI_URL:-http://${TEMPORAL_HOST}:${INFRA_TEMPORAL_UI_PORT}}"
export INFRA_LISTEN="${INFRA_LISTEN:-127.0.0.1:9101}"
# Read before TEMPORAL is reused below for the path of the Temporal CLI.
INFRA_RUN_TEMPORAL="${INFRA_RUN_TEMPORAL:-${TEMPORAL:-dev}}"
case "$INFRA_RUN_TEMPORAL" in
dev | postgres) ;;
*) die "TEMPORAL=$INFRA_RUN_TEMPORAL: want dev (the dev server on SQLite) or postgres (the Temporal server on PostgreSQL)" ;;
esac
LISTEN_HOST="${INFRA_LISTEN%:*}"
LISTEN_PORT="${INFRA_LISTEN##*:}"
[[ -z "$LISTEN_HOST" || "$LISTEN_HOST" == "0.0.0.0" ]] && LISTEN_HOST=127.0.0.1

# --- probes --------------------------------------------------------------------------------------------------------

# port_open HOST PORT: something accepts TCP connections there. Runs in a subshell so a failed redirection cannot
# end the script.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# http_status HOST PORT PATH: prints the HTTP status code of a GET, or nothing when there is no answer. Plain bash,
# because curl is not part of a minimal Debian.
http_status() {
	(
		exec 3<>"/dev/tcp/$1/$2" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$3" "$1" "$2" >&3
		IFS=' ' read -r -t 10 _ code _ <&3 || true
		printf '%s' "${code:-}"
	) 2>/dev/null
}

# alive PID: the process exists and is not a zombie.
alive() {
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
	stat="${stat##*) }"
	[[ "${stat%% *}" != "Z" ]]
}

# wait_until SECONDS WHAT PID COMMAND...: polls COMMAND until it succeeds; fails when SECONDS pass or when PID
# (if not empty) has exited, since then waiting longer cannot help.
wait_until() {
	local timeout="$1" what="$2" pid="$3"
	shift 3
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		if [[ -n "$pid" ]] && ! alive "$pid"; then
			log "$what: process $pid exited during start-up"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "$what: not ready after ${timeout}s"
			return 1
		fi
		sleep 0.2
	done
}

infra_ready() { [[ "$(http_status "$LISTEN_HOST" "$LISTEN_PORT" /readyz)" == "200" ]]; }

# --- stopping ------------------------------------------------------------------------------------------------------

# stop_pid PID NAME SIGNAL: signals PID, waits for it to exit (bounded), kills it if it does not.
stop_pid() {
	local pid="$1" name="$2" sig="$3"
	alive "$pid" || return 0
	log "stopping $name (pid $pid)"
	kill -s "$sig" "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
	if alive "$pid"; then
		log "$name did not stop within ${STOP_TIMEOUT}s; killing it"
		kill -s KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	trap - INT TERM EXIT
	[[ -n "$INFRA_PID" ]] && stop_pid "$INFRA_PID" infrastructor TERM
	[[ -n "$TEMPORAL_UI_PID" ]] && stop_pid "$TEMPORAL_UI_PID" "Temporal UI server" TERM
	[[ -n "$TEMPORAL_PID" ]] && stop_pid "$TEMPORAL_PID" "Temporal server" INT
	if ((PG_STARTED)); then
		log "stopping PostgreSQL"
		as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null ||
			log "pg_ctl stop failed; see $LOG_DIR/postgres.log"
	fi
	return 0
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# --- prerequisites -------------------------------------------------------------------------------------------------

command -v go >/dev/null || die "Go is not installed (needed to build bin/infrastructor); install Go $(sed -n 's/^go //p' "$ROOT/go.mod") or newer"

PG_BIN=""
find_pg_bin() {
	local d
	PG_BIN=""
	# Highest major version wins; sort -V because a glob would put 10 before 9.
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		[[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && PG_BIN="$d"
	done
	[[ -n "$PG_BIN" ]]
}

if ((START_PG)) && ! find_pg_bin; then
	if ((EUID == 0)); then
		log "installing PostgreSQL (apt-get install -y postgresql)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >"$LOG_DIR/apt.log" 2>&1 ||
			die "apt-get install -y postgresql failed; see $LOG_DIR/apt.log (run apt-get update first?)"
		find_pg_bin || die "PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found"
	else
		printf '[run] PostgreSQL server binaries are missing. Install them with:\n\n    sudo apt-get install -y postgresql\n\n' >&2
		exit 1
	fi
fi

# as_pg runs a PostgreSQL tool as the cluster owner: PostgreSQL refuses to run as root, so a root caller uses the
# unprivileged "postgres" account that the package creates.
as_pg() {
	if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- build ---------------------------------------------------------------------------------------------------------

if [[ ! -x "$ROOT/bin/infrastructor" ]]; then
	log "building bin/infrastructor"
	(cd "$ROOT" && go build -ldflags "-X main.version=$(git describe --always --dirty 2>/dev/null || echo unknown)" \
		-o bin/infrastructor ./cmd/infrastructor)
fi

START_TEMPORAL=1
TEMPORAL=""
if port_open "$TEMPORAL_HOST" "$TEMPORAL_PORT"; then
	START_TEMPORAL=0
	log "Temporal already answers at $INFRA_TEMPORAL_ADDRESS; using it"
elif TEMPORAL="$(command -v temporal)"; then
	:
elif [[ -x "$ROOT/bin/temporal" ]]; then
	TEMPORAL="$ROOT/bin/temporal"
else
	log "building the Temporal dev server into bin/temporal ($TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION, a few minutes, once)"
	(cd "$ROOT" && GOBIN="$ROOT/bin" go install "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION")
	TEMPORAL="$ROOT/bin/temporal"
fi

# --- PostgreSQL ----------------------------------------------------------------------------------------------------

if ((START_PG)); then
	PGDATA="$INFRA_DATA_DIR/postgres"
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	touch "$LOG_DIR/postgres.log"
	if ((EUID == 0)); then
		chown postgres:postgres "$PGDATA" "$LOG_DIR/postgres.log"
		as_pg test -w "$PGDATA" || die "user postgres cannot reach $PGDATA (is a parent directory private?); set INFRA_DATA_DIR to a directory every user can enter"
	fi
	if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
		log "creating the PostgreSQL cluster in $PGDATA"
		as_pg "$PG_BIN/initdb" -D "$PGDATA" -U infrastructor --auth=trust -E UTF8 --locale=C >>"$LOG_DIR/postgres.log" 2>&1 ||
			die "initdb failed; see $LOG_DIR/postgres.log"
	fi
	if as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
		# Left running by a run that was killed without a chance to clean up: it is ours, so adopt it.
		log "PostgreSQL is already running on $PGDATA; reusing it"
	else
		port_open 127.0.0.1 "$INFRA_PG_PORT" && die "port $INFRA_PG_PORT is taken by another program; stop it or set INFRA_PG_PORT"
		log "starting PostgreSQL on 127.0.0.1:$INFRA_PG_PORT (log: $LOG_DIR/postgres.log)"
		# The socket goes inside the data directory so several clusters on one machine never collide.
		as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$LOG_DIR/postgres.log" -w -t "$PG_START_TIMEOUT" \
			-o "-p $INFRA_PG_PORT -k '$PGDATA' -c listen_addresses=127.0.0.1" start >/dev/null ||
			die "PostgreSQL did not start; see $LOG_DIR/postgres.log"
	fi
	PG_STARTED=1
	exists="$("$PG_BIN/psql" -h 127.0.0.1 -p "$INFRA_PG_PORT" -U infrastructor -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'infrastructor'")" || die "cannot query PostgreSQL on port $INFRA_PG_PORT"
	if [[ "$exists" != "1" ]]; then
		log "creating database infrastructor"
		"$PG_BIN/createdb" -h 127.0.0.1 -p "$INFRA_PG_PORT" -U infrastructor infrastructor
	fi
fi

# --- Temporal ------------------------------------------------------------------------------------------------------

temporal_ready() {
	"$TEMPORAL" operator namespace describe --namespace default --address "$INFRA_TEMPORAL_ADDRESS" >/dev/null 2>&1 &&
		port_open "$TEMPORAL_HOST" "$INFRA_TEMPORAL_UI_PORT"
}

# --- Temporal on PostgreSQL (TEMPORAL=postgres) -------------------------------------------------------------------
# The production server with its databases temporal and temporal_visibility in the PostgreSQL above, and the UI as
# a process of its own; the dev server below is then not started.

if ((START_TEMPORAL)) && [[ "$INFRA_RUN_TEMPORAL" == postgres ]]; then
	TP="$ROOT/scripts/temporal-postgres.sh"
	export TEMPORAL_DB_URL="${TEMPORAL_DB_URL:-$INFRA_DATABASE_URL}" TEMPORAL_ADDRESS="$INFRA_TEMPORAL_ADDRESS" \
		TEMPORAL_UI_PORT="$INFRA_TEMPORAL_UI_PORT" TEMPORAL_NAMESPACE="${INFRA_TEMPORAL_NAMESPACE:-default}"
	port_open "$TEMPORAL_HOST" "$INFRA_TEMPORAL_UI_PORT" &&
		die "port $INFRA_TEMPORAL_UI_PORT (Temporal UI) is taken by another program; stop it or set INFRA_TEMPORAL_UI_PORT"
	"$TP" build
	log "setting up Temporal's databases (log: $LOG_DIR/temporal.log)"
	"$TP" setup >>"$LOG_DIR/temporal.log" 2>&1 || die "Temporal database setup failed; see $LOG_DIR/temporal.log"
	log "starting the Temporal server on PostgreSQL at $INFRA_TEMPORAL_ADDRESS (log: $LOG_DIR/temporal.log)"
	"$TP" server >>"$LOG_DIR/temporal.log" 2>&1 &
	TEMPORAL_PID=$!
	temporal_healthy() { "$TEMPORAL" operator cluster health --address "$INFRA_TEMPORAL_ADDRESS" >/dev/null 2>&1; }
	wait_until "$TEMPORAL_START_TIMEOUT" "Temporal server" "$TEMPORAL_PID" temporal_healthy ||
		die "the Temporal server did not become ready; see $LOG_DIR/temporal.log"
	"$TP" namespace >>"$LOG_DIR/temporal.log" 2>&1 || die "registering the Temporal namespace failed; see $LOG_DIR/temporal.log"
	"$TP" ui >>"$LOG_DIR/temporal-ui.log" 2>&1 &
	TEMPORAL_UI_PID=$!
	wait_until 60 "Temporal UI server" "$TEMPORAL_UI_PID" port_open "$TEMPORAL_HOST" "$INFRA_TEMPORAL_UI_PORT" ||
		die "the Temporal UI did not start; see $LOG_DIR/temporal-ui.log"
	START_TEMPORAL=0
fi

if ((START_TEMPORAL)); then
	port_open "$TEMPORAL_HOST" "$INFRA_TEMPORAL_UI_PORT" &&
		die "port $INFRA_TEMPORAL_UI_PORT (Temporal UI) is taken by another program; stop it or set INFRA_TEMPORAL_UI_PORT"
	log "starting the Temporal dev server on $INFRA_TEMPORAL_ADDRESS (log: $LOG_DIR/temporal.log)"
	"$TEMPORAL" server start-dev --ip "$TEMPORAL_HOST" --port "$TEMPORAL_PORT" --ui-port "$INFRA_TEMPORAL_UI_PORT" \
		--db-filename "$INFRA_DATA_DIR/temporal.db" --log-level warn >>"$LOG_DIR/temporal.log" 2>&1 &
	TEMPORAL_PID=$!
	wait_until "$TEMPORAL_START_TIMEOUT" "Temporal dev server" "$TEMPORAL_PID" temporal_ready ||
		die "Temporal dev server did not become ready; see $LOG_DIR/temporal.log"
fi

# --- Infrastructor -------------------------------------------------------------------------------------------------

log "applying database migrations"
"$ROOT/bin/infrastructor" migrate up

log "starting infrastructor up on $INFRA_LISTEN"
"$ROOT/bin/infrastructor" up &
INFRA_PID=$!
wait_until "$INFRA_READY_TIMEOUT" infrastructor "$INFRA_PID" infra_ready ||
	die "infrastructor did not become ready (GET http://$LISTEN_HOST:$LISTEN_PORT/readyz)"

if [[ -n "${INFRA_ADMIN_TOKEN:-}" ]]; then
	token_note="the one in INFRA_ADMIN_TOKEN"
	# shellcheck disable=SC2016 # printed for the user's shell to expand
	token_expr='$INFRA_ADMIN_TOKEN'
else
	token_note="$INFRA_DATA_DIR/admin.token"
	token_expr="\$(cat $INFRA_DATA_DIR/admin.token)"
fi
cat >&2 <<EOF

  Infrastructor is running.
    dashboard:       http://$LISTEN_HOST:$LISTEN_PORT/  (sign in by pasting the admin token)
    API:             http://$LISTEN_HOST:$LISTEN_PORT/api/v1
    Temporal UI:     $INFRA_TEMPORAL_UI_URL
    admin token:     $token_note
      e.g. curl -H "Authorization: Bearer $token_expr" http://$LISTEN_HOST:$LISTEN_PORT/api/v1/devices
    logs:            $LOG_DIR
  Press Ctrl-C to stop everything.

EOF

# Waiting on the PID (not in the foreground) lets the INT/TERM traps run as soon as a signal arrives.
status=0
wait "$INFRA_PID" || status=$?
INFRA_PID=""
log "infrastructor exited with status $status"
exit "$status"
