#!/usr/bin/env bash
# The production Temporal server (go.temporal.io/server) with PostgreSQL persistence, on one machine, without
# Docker: the profile behind `make run TEMPORAL=postgres`, `make bench`'s large sizes and test/deploy. Unlike the
# dev server's SQLite file it keeps every workflow through restarts at scale and runs the same code as a cluster.
#
# Usage: scripts/temporal-postgres.sh COMMAND
#   build      build bin/temporal-server, bin/temporal-sql-tool and bin/temporal-ui-server from the pinned modules
#              (once; several minutes on two cores)
#   setup      create the databases if missing, bring their schemas up to date with temporal-sql-tool, and write
#              the server and UI configuration into $TEMPORAL_STATE_DIR
#   server     exec the Temporal server (foreground; SIGINT or SIGTERM stops it gracefully)
#   ui         exec the Temporal UI server (foreground), pointed at the frontend
#   namespace  wait for the frontend, then register $TEMPORAL_NAMESPACE unless it exists
#
# Settings (environment):
#   TEMPORAL_DB_URL              PostgreSQL server for Temporal's databases, postgres://user[:password]@host[:port]/...
#                                (the path is ignored; default postgres://infrastructor@127.0.0.1:9100/). The user
#                                must be allowed to create databases.
#   TEMPORAL_DB_NAME             main database (default temporal)
#   TEMPORAL_VISIBILITY_DB_NAME  visibility database (default temporal_visibility)
#   TEMPORAL_ADDRESS             frontend gRPC address (default 127.0.0.1:7233). The other services listen next to
#                                it on the same IP: history +1, matching +2, worker +6, frontend HTTP +10, and their
#                                membership ports 300 below each gRPC port (7233 gives the stock 6933..6939, 7243).
#   TEMPORAL_UI_PORT             port of the UI on the frontend's IP (default 8233)
#   TEMPORAL_NAMESPACE           namespace to register (default default), TEMPORAL_NAMESPACE_RETENTION (default 72h)
#   TEMPORAL_HISTORY_SHARDS      number of history shards (default 16). Fixed when the database is created: changing
#                                it later makes the server refuse to start.
#   TEMPORAL_LOG_LEVEL           debug, info, warn or error (default warn)
#   TEMPORAL_STATE_DIR           where the generated configuration goes (default $INFRA_DATA_DIR/temporal-postgres,
#                                INFRA_DATA_DIR defaulting to .data)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin"

# Pinned versions. The UI server is the one the Temporal CLI's dev server embeds (CLI v1.5.1 ships ui-server
# v2.42.1), so the UI looks the same with either profile.
TEMPORAL_SERVER_MODULE="${TEMPORAL_SERVER_MODULE:-go.temporal.io/server}"
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-v1.29.1}"
TEMPORAL_UI_SERVER_MODULE="${TEMPORAL_UI_SERVER_MODULE:-github.com/temporalio/ui-server/v2}"
TEMPORAL_UI_SERVER_VERSION="${TEMPORAL_UI_SERVER_VERSION:-v2.42.1}"

log() { printf '[temporal-postgres] %s\n' "$*" >&2; }
die() { printf '[temporal-postgres] error: %s\n' "$*" >&2; exit 1; }

# --- settings ------------------------------------------------------------------------------------------------------

INFRA_DATA_DIR="${INFRA_DATA_DIR:-$ROOT/.data}"
TEMPORAL_STATE_DIR="${TEMPORAL_STATE_DIR:-$INFRA_DATA_DIR/temporal-postgres}"
TEMPORAL_DB_URL="${TEMPORAL_DB_URL:-postgres://infrastructor@127.0.0.1:9100/}"
TEMPORAL_DB_NAME="${TEMPORAL_DB_NAME:-temporal}"
TEMPORAL_VISIBILITY_DB_NAME="${TEMPORAL_VISIBILITY_DB_NAME:-temporal_visibility}"
TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
TEMPORAL_NAMESPACE_RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
TEMPORAL_HISTORY_SHARDS="${TEMPORAL_HISTORY_SHARDS:-16}"
TEMPORAL_LOG_LEVEL="${TEMPORAL_LOG_LEVEL:-warn}"

# parse_db_url splits TEMPORAL_DB_URL into DB_USER, DB_PASSWORD, DB_HOST and DB_PORT. Percent-escapes in the user
# or password are not decoded: use a password without URL-special characters.
parse_db_url() {
	local rest="$TEMPORAL_DB_URL" userinfo hostport
	case "$rest" in
	postgres://* | postgresql://*) rest="${rest#*://}" ;;
	*) die "TEMPORAL_DB_URL=$TEMPORAL_DB_URL: want postgres://user[:password]@host[:port]/" ;;
	esac
	rest="${rest%%/*}"
	rest="${rest%%\?*}"
	if [[ "$rest" == *@* ]]; then
		userinfo="${rest%@*}"
		hostport="${rest##*@}"
	else
		userinfo=""
		hostport="$rest"
	fi
	DB_USER="${userinfo%%:*}"
	DB_PASSWORD=""
	[[ "$userinfo" == *:* ]] && DB_PASSWORD="${userinfo#*:}"
	DB_HOST="${hostport%:*}"
	DB_PORT="5432"
	[[ "$hostport" == *:* ]] && DB_PORT="${hostport##*:}"
	[[ -n "$DB_USER" ]] || DB_USER="${USER:-postgres}"
	[[ -n "$DB_HOST" && "$DB_PORT" =~ ^[0-9]+$ ]] || die "TEMPORAL_DB_URL=$TEMPORAL_DB_URL: want postgres://user[:password]@host[:port]/"
}

IP="${TEMPORAL_ADDRESS%:*}"
FRONTEND_PORT="${TEMPORAL_ADDRESS##*:}"
[[ -n "$IP" && "$FRONTEND_PORT" =~ ^[0-9]+$ ]] || die "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS: want ip:port"
((FRONTEND_PORT >= 1024 && FRONTEND_PORT <= 65000)) || die "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS: want a port between 1024 and 65000"
HISTORY_PORT=$((FRONTEND_PORT + 1))
MATCHING_PORT=$((FRONTEND_PORT + 2))
WORKER_PORT=$((FRONTEND_PORT + 6))
HTTP_PORT=$((FRONTEND_PORT + 10))
MEMBERSHIP_OFFSET=300

# --- build ---------------------------------------------------------------------------------------------------------

# install_tool NAME PACKAGE@VERSION: go install into a private GOBIN (every one of these commands is called
# "server" or "sql"), then move the result to bin/NAME.
install_tool() {
	local name="$1" pkg="$2" tmp
	[[ -x "$BIN/$name" ]] && return 0
	log "building bin/$name from $pkg (several minutes, once)"
	tmp="$(mktemp -d "$BIN/.build-$name.XXXXXX")"
	if ! (cd "$ROOT" && GOBIN="$tmp" CGO_ENABLED=0 go install "$pkg"); then
		rm -rf "$tmp"
		die "go install $pkg failed"
	fi
	mv "$tmp"/* "$BIN/$name"
	rm -rf "$tmp"
}

cmd_build() {
	command -v go >/dev/null || die "Go is needed to build the Temporal server"
	mkdir -p "$BIN"
	# One build at a time: make run and test binaries may ask together.
	exec 9>"$BIN/.temporal-postgres.lock"
	flock 9
	install_tool temporal-server "$TEMPORAL_SERVER_MODULE/cmd/server@$TEMPORAL_SERVER_VERSION"
	install_tool temporal-sql-tool "$TEMPORAL_SERVER_MODULE/cmd/tools/sql@$TEMPORAL_SERVER_VERSION"
	install_tool temporal-ui-server "$TEMPORAL_UI_SERVER_MODULE/cmd/server@$TEMPORAL_UI_SERVER_VERSION"
	flock -u 9
}

need() { [[ -x "$BIN/$1" ]] || die "bin/$1 is missing; run: scripts/temporal-postgres.sh build"; }

# --- setup ---------------------------------------------------------------------------------------------------------

sql_tool() {
	"$BIN/temporal-sql-tool" --plugin postgres12 --endpoint "$DB_HOST" --port "$DB_PORT" --user "$DB_USER" \
		--password "$DB_PASSWORD" "$@"
}

# setup_db NAME SCHEMA: creates the database unless it exists, then brings its schema to the latest version that
# this server release embeds. Safe to repeat: that is how an upgraded server gets its schema changes.
setup_db() {
	local db="$1" schema="$2"
	# create-database fails when the database exists; --quiet keeps that from stopping us, and a real problem
	# (authentication, privileges) fails the setup-schema below with the server's own message.
	local out
	sql_tool --database "$db" --quiet create-database >/dev/null 2>&1 || true
	# The tool logs every statement; its output is shown only when it fails.
	out="$(sql_tool --database "$db" setup-schema -v 0.0 2>&1)" || {
		printf '%s\n' "$out" >&2
		die "setup-schema of database $db on $DB_HOST:$DB_PORT failed (is PostgreSQL up, may $DB_USER create databases?)"
	}
	out="$(sql_tool --database "$db" update-schema --schema-name "$schema" 2>&1)" || {
		printf '%s\n' "$out" >&2
		die "update-schema of database $db on $DB_HOST:$DB_PORT failed"
	}
}

write_config() {
	local dir="$TEMPORAL_STATE_DIR" m=$MEMBERSHIP_OFFSET
	mkdir -p "$dir/config/dynamicconfig" "$dir/ui"
	chmod 700 "$dir"
	# Holds the database password: readable by the owner only.
	umask 077
	cat >"$dir/config/production.yaml" <<EOF
# Generated by scripts/temporal-postgres.sh setup; edits are overwritten.
log:
  stdout: true
  level: $TEMPORAL_LOG_LEVEL

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: $TEMPORAL_HISTORY_SHARDS
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: "$TEMPORAL_DB_NAME"
        connectAddr: "$DB_HOST:$DB_PORT"
        connectProtocol: tcp
        user: "$DB_USER"
        password: "$DB_PASSWORD"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: "$TEMPORAL_VISIBILITY_DB_NAME"
        connectAddr: "$DB_HOST:$DB_PORT"
        connectProtocol: tcp
        user: "$DB_USER"
        password: "$DB_PASSWORD"
        maxConns: 5
        maxIdleConns: 5
        maxConnLifetime: 1h

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "$IP"

services:
  frontend:
    rpc:
      grpcPort: $FRONTEND_PORT
      membershipPort: $((FRONTEND_PORT - m))
      bindOnIP: "$IP"
      httpPort: $HTTP_PORT
  history:
    rpc:
      grpcPort: $HISTORY_PORT
      membershipPort: $((HISTORY_PORT - m))
      bindOnIP: "$IP"
  matching:
    rpc:
      grpcPort: $MATCHING_PORT
      membershipPort: $((MATCHING_PORT - m))
      bindOnIP: "$IP"
  worker:
    rpc:
      grpcPort: $WORKER_PORT
      membershipPort: $((WORKER_PORT - m))
      bindOnIP: "$IP"

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "$IP:$FRONTEND_PORT"
      httpAddress: "$IP:$HTTP_PORT"

dcRedirectionPolicy:
  policy: noop

dynamicConfigClient:
  filepath: "$dir/config/dynamicconfig/production.yaml"
  pollInterval: 60s
EOF
	cp "$ROOT/deploy/temporal/dynamicconfig.yaml" "$dir/config/dynamicconfig/production.yaml"
	cat >"$dir/ui/production.yaml" <<EOF
# Generated by scripts/temporal-postgres.sh setup; edits are overwritten.
temporalGrpcAddress: "$IP:$FRONTEND_PORT"
host: "$IP"
port: $TEMPORAL_UI_PORT
enableUi: true
defaultNamespace: "$TEMPORAL_NAMESPACE"
notifyOnNewVersion: false
showTemporalSystemNamespace: false
cors:
  cookieInsecure: true
  allowOrigins:
    - "http://$IP:$TEMPORAL_UI_PORT"
    - "http://localhost:$TEMPORAL_UI_PORT"
EOF
}

cmd_setup() {
	need temporal-sql-tool
	parse_db_url
	log "databases $TEMPORAL_DB_NAME and $TEMPORAL_VISIBILITY_DB_NAME on $DB_HOST:$DB_PORT"
	setup_db "$TEMPORAL_DB_NAME" postgresql/v12/temporal
	setup_db "$TEMPORAL_VISIBILITY_DB_NAME" postgresql/v12/visibility
	write_config
	log "configuration in $TEMPORAL_STATE_DIR"
}

# --- run -----------------------------------------------------------------------------------------------------------

cmd_server() {
	need temporal-server
	[[ -s "$TEMPORAL_STATE_DIR/config/production.yaml" ]] || die "no configuration; run: scripts/temporal-postgres.sh setup"
	exec "$BIN/temporal-server" --root "$TEMPORAL_STATE_DIR" --config config --env production --allow-no-auth start
}

cmd_ui() {
	need temporal-ui-server
	[[ -s "$TEMPORAL_STATE_DIR/ui/production.yaml" ]] || die "no configuration; run: scripts/temporal-postgres.sh setup"
	exec "$BIN/temporal-ui-server" --root "$TEMPORAL_STATE_DIR" --config ui --env production start
}

# temporal_cli finds the Temporal CLI (bin/temporal, built for the dev server and the tests, else PATH).
temporal_cli() {
	if [[ -x "$BIN/temporal" ]]; then
		"$BIN/temporal" "$@"
	elif command -v temporal >/dev/null; then
		temporal "$@"
	else
		die "the Temporal CLI is needed to register the namespace; run: make bin/temporal"
	fi
}

cmd_namespace() {
	local deadline=$((SECONDS + ${TEMPORAL_START_TIMEOUT:-180}))
	until temporal_cli operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "the Temporal frontend at $TEMPORAL_ADDRESS did not become healthy"
		sleep 0.5
	done
	if temporal_cli operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
		return 0
	fi
	log "registering namespace $TEMPORAL_NAMESPACE (retention $TEMPORAL_NAMESPACE_RETENTION)"
	temporal_cli operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$TEMPORAL_NAMESPACE_RETENTION" \
		--address "$TEMPORAL_ADDRESS" >/dev/null
	# The frontend caches namespaces for a few seconds; wait until the new one is served.
	until temporal_cli operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "namespace $TEMPORAL_NAMESPACE was created but is not served"
		sleep 0.5
	done
}

case "${1:-}" in
build) cmd_build ;;
setup) cmd_setup ;;
server) cmd_server ;;
ui) cmd_ui ;;
namespace) cmd_namespace ;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
