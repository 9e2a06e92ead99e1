// Package config loads Infrastructor's settings from INFRA_* environment variables into one validated struct.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/secret"
)

// Config holds every setting of the binary. Each field is read from the environment variable in its `env` tag.
type Config struct {
	DatabaseURL       string        `env:"INFRA_DATABASE_URL"`
	TemporalAddress   string        `env:"INFRA_TEMPORAL_ADDRESS"`
	TemporalNamespace string        `env:"INFRA_TEMPORAL_NAMESPACE"`
	TemporalUIURL     string        `env:"INFRA_TEMPORAL_UI_URL"`
	TaskQueue         string        `env:"INFRA_TASK_QUEUE"`
	Listen            string        `env:"INFRA_LISTEN"`
	DataDir           string        `env:"INFRA_DATA_DIR"`
	AdminToken        string        `env:"INFRA_ADMIN_TOKEN"`
	SSHKeys           []string      `env:"INFRA_SSH_KEY"`
	SSHAgent          bool          `env:"INFRA_SSH_AGENT"`
	LogLevel          slog.Level    `env:"INFRA_LOG_LEVEL"`
	LogFormat         string        `env:"INFRA_LOG_FORMAT"`
	MaxBodyBytes      int           `env:"INFRA_MAX_BODY_BYTES"`
	ShutdownTimeout   time.Duration `env:"INFRA_SHUTDOWN_TIMEOUT"`
	WSOrigins         []string      `env:"INFRA_WS_ORIGINS"`
	WSMaxPerToken     int           `env:"INFRA_WS_MAX_PER_TOKEN"`
	MCPReadOnly       bool          `env:"INFRA_MCP_READONLY"`
	// Live log tails (#12).
	LogTailsPerToken  int           `env:"INFRA_LOG_TAILS_PER_TOKEN"`
	LogTailsPerDevice int           `env:"INFRA_LOG_TAILS_PER_DEVICE"`
	LogTailIdle       time.Duration `env:"INFRA_LOG_TAIL_IDLE"`
	// Database and metrics hardening (#15).
	RequestTimeout      time.Duration `env:"INFRA_REQUEST_TIMEOUT"`
	DBMaxConns          int           `env:"INFRA_DB_MAX_CONNS"`
	MetricsToken        string        `env:"INFRA_METRICS_TOKEN"`
	WorkerMetricsListen string        `env:"INFRA_WORKER_METRICS_LISTEN"`
	// SecretKey is the base64 key that encrypts channel credentials at rest; "" means the key file in DataDir.
	// Never log it.
	SecretKey           string `env:"INFRA_SECRET_KEY"`
	NotifyAllowLoopback bool   `env:"INFRA_NOTIFY_ALLOW_LOOPBACK"`
	// ImageCheckInterval is how long a registry's answer about an image tag is trusted before it is asked again.
	ImageCheckInterval time.Duration `env:"INFRA_IMAGE_CHECK_INTERVAL"`

	// Tokens (#15).
	// TokenDefaultTTL is the lifetime of new API tokens created without expires_at; 0 means they never expire.
	TokenDefaultTTL time.Duration `env:"INFRA_TOKEN_DEFAULT_TTL"`
	// TokenRecheck is how often open WebSocket connections and MCP streams have their token checked again.
	TokenRecheck time.Duration `env:"INFRA_TOKEN_RECHECK_INTERVAL"`
	// AuthFailuresPerMinute is how many failed authentications one client address may make per minute.
	AuthFailuresPerMinute int `env:"INFRA_AUTH_FAILURES_PER_MINUTE"`
	// TokenRequestsPerMinute caps the requests of one token per minute in one API process; 0 means no limit.
	TokenRequestsPerMinute int `env:"INFRA_TOKEN_REQUESTS_PER_MINUTE"`

	// TemporalCompression is the gRPC compression of requests to Temporal: "none" or "gzip" (#17).
	TemporalCompression string `env:"INFRA_TEMPORAL_COMPRESSION"`
}

// DefaultWorkerMetricsListen is where `infrastructor worker` serves /metrics unless INFRA_WORKER_METRICS_LISTEN
// says otherwise.
const DefaultWorkerMetricsListen = "127.0.0.1:9102"

// Setting documents one environment variable: its name, default and meaning. The README table is generated from
// the same list (see TestREADMEDocumentsEverySetting), so code and documentation cannot drift apart.
type Setting struct {
	Name    string
	Default string
	Meaning string
}

// Settings lists every variable Load reads, in the order the README shows them.
var Settings = []Setting{
	{"INFRA_DATABASE_URL", "postgres://infrastructor@127.0.0.1:9100/infrastructor?sslmode=disable", "PostgreSQL connection URL (TimescaleDB is used when the extension is available)."},
	{"INFRA_TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port."},
	{"INFRA_TEMPORAL_NAMESPACE", "default", "Temporal namespace for all workflows."},
	{"INFRA_TEMPORAL_UI_URL", "http://127.0.0.1:8233", "Base URL of the Temporal UI, used for links to workflow histories."},
	{"INFRA_TEMPORAL_COMPRESSION", "none", "gRPC compression of requests to Temporal: `none` or `gzip`. On one host or a LAN compression only costs CPU (about 7 % of the worker's); `gzip` pays off for a remote Temporal over a slow or metered link."},
	{"INFRA_TASK_QUEUE", "infrastructor", "Temporal task queue shared by workers and the API."},
	{"INFRA_LISTEN", "127.0.0.1:9101", "Address of the HTTP server (REST, WebSocket, MCP, dashboard, metrics)."},
	{"INFRA_DATA_DIR", ".data", "Directory for local state: the generated admin token, `make run`'s PostgreSQL and Temporal data."},
	{"INFRA_ADMIN_TOKEN", "(unset)", "Bootstrap admin API token (at least 32 characters). When unset and no token exists, one is generated into `$INFRA_DATA_DIR/admin.token`. Setting a new secret here revokes the token of the previous one."},
	{"INFRA_TOKEN_DEFAULT_TTL", "0", "Lifetime of API tokens created without `expires_at`, such as `2160h` (90 days); `0` means they never expire. `\"expires_at\": \"never\"` (or null) still creates a token without expiry; bootstrap tokens never expire."},
	{"INFRA_TOKEN_RECHECK_INTERVAL", "30s", "How often open WebSocket connections and MCP streams have their token checked again: an expired token's connections are closed (1008) within this time. Revocations close them at once."},
	{"INFRA_AUTH_FAILURES_PER_MINUTE", "10", "Failed authentications one client address may make per minute (per API process) before every request from it gets 429 with `Retry-After`."},
	{"INFRA_TOKEN_REQUESTS_PER_MINUTE", "6000", "Requests one API token may make per minute in one API process (REST, MCP and WebSocket upgrades; bursts up to the same number); beyond that 429 with `Retry-After`. `0` disables the limit."},
	{"INFRA_SSH_KEY", "(unset)", "Private key file(s) for device logins, separated by commas or colons."},
	{"INFRA_SSH_AGENT", "true when SSH_AUTH_SOCK is set", "Also authenticate with the keys of the running ssh-agent."},
	{"INFRA_LOG_LEVEL", "info", "Log level: debug, info, warn or error."},
	{"INFRA_LOG_FORMAT", "auto", "Log format: text, json, or auto (text on a terminal, JSON otherwise)."},
	{"INFRA_MAX_BODY_BYTES", "1048576", "Largest accepted request body in bytes (larger bodies get 413)."},
	{"INFRA_SHUTDOWN_TIMEOUT", "15s", "How long a stopping process waits for requests and activities in flight."},
	{"INFRA_WS_ORIGINS", "(unset)", "Browser origins (`https://host[:port]`, comma-separated, or `*` for any) allowed to open the WebSocket `/ws` besides the server's own; clients that send no Origin header (scripts) are always allowed."},
	{"INFRA_WS_MAX_PER_TOKEN", "20", "Most WebSocket connections one API token may keep open on one API process."},
	{"INFRA_LOG_TAILS_PER_TOKEN", "5", "Most live log tails (WebSocket log topics) one API token may watch at once, across API replicas."},
	{"INFRA_LOG_TAILS_PER_DEVICE", "3", "Most live log tails one device runs at once (each holds one SSH session on it), across API replicas."},
	{"INFRA_LOG_TAIL_IDLE", "30s", "How long a live log tail keeps running after its watchers stopped refreshing (an API replica that died); a tail whose last watcher unsubscribed ends within seconds."},
	{"INFRA_MCP_READONLY", "false", "Serve the MCP endpoint `/mcp` read-only: tools that change anything (container actions, poll now, pause, resume) are hidden from every token."},
	{"INFRA_REQUEST_TIMEOUT", "30s", "Deadline of one REST request or MCP read tool call; a request that waits longer on PostgreSQL or Temporal answers 503 with Retry-After. Requests that wait on purpose (`?wait=`, poll now, a channel test) and MCP write tools get their wait on top; WebSocket connections are not bounded by it."},
	{"INFRA_DB_MAX_CONNS", "0", "Most PostgreSQL connections of one process. 0 (the default) sizes the pool by role: 16 for `server`, 24 for `worker` (activities that write samples, operations and notifications), 40 for `up`."},
	{"INFRA_METRICS_TOKEN", "(unset)", "When set, `/metrics` (of the API and of the worker) requires `Authorization: Bearer <this value>` (at least 32 characters); API tokens are not accepted there, so a scraper's secret grants nothing else."},
	{"INFRA_WORKER_METRICS_LISTEN", "127.0.0.1:9102", "Address where `infrastructor worker` serves its own `/metrics` (poll counters, database pool); empty turns it off. When the default address is taken (several workers on one host) the worker starts without it and logs a warning; an address set on purpose must be free. `up` serves the worker's counters on the API's `/metrics` instead."},
	{"INFRA_SECRET_KEY", "(unset)", "Key that encrypts notification channels' tokens and secrets in the database: base64 of 32 bytes (`openssl rand -base64 32`). When unset, a key is generated into `$INFRA_DATA_DIR/secret.key` on first start; set it when the API and the worker do not share a data directory."},
	{"INFRA_NOTIFY_ALLOW_LOOPBACK", "false", "Allow notification channels (and image registries) to reach loopback addresses (127.0.0.0/8, ::1), for a receiver on the same host. LAN addresses are always allowed; link-local and cloud metadata addresses never are."},
	{"INFRA_IMAGE_CHECK_INTERVAL", "6h", "How long a registry's answer about an image tag is trusted: each image reference of the fleet's running containers is asked of its registry (a HEAD of its manifest) at most this often, once for the whole fleet. Between 1h and 168h."},
}

// Error is a configuration error that names the variable at fault.
type Error struct {
	Name   string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Name, e.Value, e.Reason)
}

// Load reads the configuration from the process environment.
func Load() (*Config, error) { return LoadFrom(os.LookupEnv) }

// LoadFrom reads the configuration through lookup (os.LookupEnv in production, a map in tests).
func LoadFrom(lookup func(string) (string, bool)) (*Config, error) {
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	c := &Config{
		DatabaseURL:       get("INFRA_DATABASE_URL", "postgres://infrastructor@127.0.0.1:9100/infrastructor?sslmode=disable"),
		TemporalAddress:   get("INFRA_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: get("INFRA_TEMPORAL_NAMESPACE", "default"),
		TemporalUIURL:     strings.TrimRight(get("INFRA_TEMPORAL_UI_URL", "http://127.0.0.1:8233"), "/"),
		TaskQueue:         get("INFRA_TASK_QUEUE", "infrastructor"),
		Listen:            get("INFRA_LISTEN", "127.0.0.1:9101"),
		DataDir:           get("INFRA_DATA_DIR", ".data"),
		AdminToken:        get("INFRA_ADMIN_TOKEN", ""),
		LogFormat:         strings.ToLower(get("INFRA_LOG_FORMAT", "auto")),
	}

	u, err := url.Parse(c.DatabaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
		return nil, &Error{"INFRA_DATABASE_URL", redactURL(c.DatabaseURL), "want postgres://user@host:port/dbname"}
	}
	if err := hostPort(c.TemporalAddress); err != nil {
		return nil, &Error{"INFRA_TEMPORAL_ADDRESS", c.TemporalAddress, err.Error()}
	}
	if err := hostPort(c.Listen); err != nil {
		return nil, &Error{"INFRA_LISTEN", c.Listen, err.Error()}
	}
	if u, err := url.Parse(c.TemporalUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{"INFRA_TEMPORAL_UI_URL", c.TemporalUIURL, "want an http(s) URL"}
	}
	if !validName(c.TemporalNamespace) {
		return nil, &Error{"INFRA_TEMPORAL_NAMESPACE", c.TemporalNamespace, "want letters, digits, '.', '_' or '-'"}
	}
	if c.TemporalCompression = strings.ToLower(get("INFRA_TEMPORAL_COMPRESSION", "none")); c.TemporalCompression != "none" && c.TemporalCompression != "gzip" {
		return nil, &Error{"INFRA_TEMPORAL_COMPRESSION", c.TemporalCompression, "want none or gzip"}
	}
	if !validName(c.TaskQueue) {
		return nil, &Error{"INFRA_TASK_QUEUE", c.TaskQueue, "want letters, digits, '.', '_' or '-'"}
	}
	// A data dir that is a file would only fail later, at the first write, without naming the variable.
	if st, err := os.Stat(c.DataDir); err == nil && !st.IsDir() {
		return nil, &Error{"INFRA_DATA_DIR", c.DataDir, "exists and is not a directory"}
	}
	if c.AdminToken != "" && (len(c.AdminToken) < 32 || strings.ContainsAny(c.AdminToken, " \t\r\n")) {
		return nil, &Error{"INFRA_ADMIN_TOKEN", "(hidden)", "want at least 32 characters without spaces"}
	}
	if v := get("INFRA_TOKEN_DEFAULT_TTL", "0"); v == "0" {
		c.TokenDefaultTTL = 0
	} else if c.TokenDefaultTTL, err = time.ParseDuration(v); err != nil || c.TokenDefaultTTL < time.Minute || c.TokenDefaultTTL > 10*365*24*time.Hour {
		return nil, &Error{"INFRA_TOKEN_DEFAULT_TTL", v, "want 0 (never expire) or a duration such as 2160h, between 1m and 87600h"}
	}
	if c.TokenRecheck, err = time.ParseDuration(get("INFRA_TOKEN_RECHECK_INTERVAL", "30s")); err != nil || c.TokenRecheck < 100*time.Millisecond || c.TokenRecheck > 10*time.Minute {
		return nil, &Error{"INFRA_TOKEN_RECHECK_INTERVAL", get("INFRA_TOKEN_RECHECK_INTERVAL", ""), "want a duration such as 30s, between 100ms and 10m"}
	}
	if c.AuthFailuresPerMinute, err = strconv.Atoi(get("INFRA_AUTH_FAILURES_PER_MINUTE", "10")); err != nil || c.AuthFailuresPerMinute < 1 || c.AuthFailuresPerMinute > 100000 {
		return nil, &Error{"INFRA_AUTH_FAILURES_PER_MINUTE", get("INFRA_AUTH_FAILURES_PER_MINUTE", ""), "want a number between 1 and 100000"}
	}
	if c.TokenRequestsPerMinute, err = strconv.Atoi(get("INFRA_TOKEN_REQUESTS_PER_MINUTE", "6000")); err != nil || c.TokenRequestsPerMinute < 0 || c.TokenRequestsPerMinute > 10000000 {
		return nil, &Error{"INFRA_TOKEN_REQUESTS_PER_MINUTE", get("INFRA_TOKEN_REQUESTS_PER_MINUTE", ""), "want 0 (no limit) or a number up to 10000000"}
	}
	if v := get("INFRA_SSH_KEY", ""); v != "" {
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ':' }) {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if strings.HasPrefix(p, "~/") {
				if home, err := os.UserHomeDir(); err == nil {
					p = filepath.Join(home, p[2:])
				}
			}
			st, err := os.Stat(p)
			if err != nil {
				return nil, &Error{"INFRA_SSH_KEY", v, fmt.Sprintf("cannot read key file %s", p)}
			}
			if st.IsDir() {
				return nil, &Error{"INFRA_SSH_KEY", v, fmt.Sprintf("%s is a directory, want a private key file", p)}
			}
			c.SSHKeys = append(c.SSHKeys, p)
		}
	}
	_, hasAgent := lookup("SSH_AUTH_SOCK")
	if c.SSHAgent, err = parseBool(get("INFRA_SSH_AGENT", strconv.FormatBool(hasAgent))); err != nil {
		return nil, &Error{"INFRA_SSH_AGENT", get("INFRA_SSH_AGENT", ""), err.Error()}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("INFRA_LOG_LEVEL", "info"))); err != nil {
		return nil, &Error{"INFRA_LOG_LEVEL", get("INFRA_LOG_LEVEL", ""), "want debug, info, warn or error"}
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		return nil, &Error{"INFRA_LOG_FORMAT", c.LogFormat, "want text, json or auto"}
	}
	if c.MaxBodyBytes, err = strconv.Atoi(get("INFRA_MAX_BODY_BYTES", "1048576")); err != nil || c.MaxBodyBytes < 4096 || c.MaxBodyBytes > 64<<20 {
		return nil, &Error{"INFRA_MAX_BODY_BYTES", get("INFRA_MAX_BODY_BYTES", ""), "want a byte count between 4096 and 67108864"}
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("INFRA_SHUTDOWN_TIMEOUT", "15s")); err != nil || c.ShutdownTimeout <= 0 || c.ShutdownTimeout > 10*time.Minute {
		return nil, &Error{"INFRA_SHUTDOWN_TIMEOUT", get("INFRA_SHUTDOWN_TIMEOUT", ""), "want a duration such as 15s, at most 10m"}
	}
	if v := get("INFRA_WS_ORIGINS", ""); v != "" {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
			if o == "" {
				continue
			}
			if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
				return nil, &Error{"INFRA_WS_ORIGINS", v, fmt.Sprintf("%q: want origins such as https://dash.example.net:8443, or *", o)}
			}
			c.WSOrigins = append(c.WSOrigins, o)
		}
	}
	if c.WSMaxPerToken, err = strconv.Atoi(get("INFRA_WS_MAX_PER_TOKEN", "20")); err != nil || c.WSMaxPerToken < 1 || c.WSMaxPerToken > 100000 {
		return nil, &Error{"INFRA_WS_MAX_PER_TOKEN", get("INFRA_WS_MAX_PER_TOKEN", ""), "want a number between 1 and 100000"}
	}
	if c.LogTailsPerToken, err = strconv.Atoi(get("INFRA_LOG_TAILS_PER_TOKEN", "5")); err != nil || c.LogTailsPerToken < 1 || c.LogTailsPerToken > 1000 {
		return nil, &Error{"INFRA_LOG_TAILS_PER_TOKEN", get("INFRA_LOG_TAILS_PER_TOKEN", ""), "want a number between 1 and 1000"}
	}
	if c.LogTailsPerDevice, err = strconv.Atoi(get("INFRA_LOG_TAILS_PER_DEVICE", "3")); err != nil || c.LogTailsPerDevice < 1 || c.LogTailsPerDevice > 6 {
		return nil, &Error{"INFRA_LOG_TAILS_PER_DEVICE", get("INFRA_LOG_TAILS_PER_DEVICE", ""), "want a number between 1 and 6 (each tail holds one of a device's 8 SSH sessions)"}
	}
	if c.LogTailIdle, err = time.ParseDuration(get("INFRA_LOG_TAIL_IDLE", "30s")); err != nil || c.LogTailIdle < 5*time.Second || c.LogTailIdle > time.Hour {
		return nil, &Error{"INFRA_LOG_TAIL_IDLE", get("INFRA_LOG_TAIL_IDLE", ""), "want a duration between 5s and 1h"}
	}
	if c.MCPReadOnly, err = parseBool(get("INFRA_MCP_READONLY", "false")); err != nil {
		return nil, &Error{"INFRA_MCP_READONLY", get("INFRA_MCP_READONLY", ""), err.Error()}
	}
	if c.RequestTimeout, err = time.ParseDuration(get("INFRA_REQUEST_TIMEOUT", "30s")); err != nil || c.RequestTimeout < time.Second || c.RequestTimeout > 10*time.Minute {
		return nil, &Error{"INFRA_REQUEST_TIMEOUT", get("INFRA_REQUEST_TIMEOUT", ""), "want a duration between 1s and 10m, such as 30s"}
	}
	if c.DBMaxConns, err = strconv.Atoi(get("INFRA_DB_MAX_CONNS", "0")); err != nil || c.DBMaxConns < 0 || c.DBMaxConns > 10000 {
		return nil, &Error{"INFRA_DB_MAX_CONNS", get("INFRA_DB_MAX_CONNS", ""), "want a number between 0 (auto) and 10000"}
	}
	c.MetricsToken = get("INFRA_METRICS_TOKEN", "")
	if c.MetricsToken != "" && (len(c.MetricsToken) < 32 || strings.ContainsAny(c.MetricsToken, " \t\r\n")) {
		return nil, &Error{"INFRA_METRICS_TOKEN", "(hidden)", "want at least 32 characters without spaces"}
	}
	// Set but empty turns the worker's metrics listener off; unset keeps the default.
	c.WorkerMetricsListen = DefaultWorkerMetricsListen
	if v, ok := lookup("INFRA_WORKER_METRICS_LISTEN"); ok {
		c.WorkerMetricsListen = strings.TrimSpace(v)
	}
	if c.WorkerMetricsListen != "" {
		if err := hostPort(c.WorkerMetricsListen); err != nil {
			return nil, &Error{"INFRA_WORKER_METRICS_LISTEN", c.WorkerMetricsListen, err.Error()}
		}
	}
	if c.SecretKey = get("INFRA_SECRET_KEY", ""); c.SecretKey != "" {
		if _, err := secret.ParseKey(c.SecretKey); err != nil {
			return nil, &Error{"INFRA_SECRET_KEY", "(hidden)", err.Error()}
		}
	}
	v := get("INFRA_IMAGE_CHECK_INTERVAL", "6h")
	if c.ImageCheckInterval, err = time.ParseDuration(v); err != nil || c.ImageCheckInterval < time.Hour || c.ImageCheckInterval > 168*time.Hour {
		return nil, &Error{"INFRA_IMAGE_CHECK_INTERVAL", v, "want a duration between 1h and 168h, such as 6h"}
	}
	if c.NotifyAllowLoopback, err = parseBool(get("INFRA_NOTIFY_ALLOW_LOOPBACK", "false")); err != nil {
		return nil, &Error{"INFRA_NOTIFY_ALLOW_LOOPBACK", get("INFRA_NOTIFY_ALLOW_LOOPBACK", ""), err.Error()}
	}
	return c, nil
}

func hostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number between 0 and 65535", port)
	}
	_ = host // an empty host means all interfaces, which net.Listen accepts
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("want true or false")
	}
	return b, nil
}

// redactURL hides a password in a connection URL so it never reaches a log line or an error.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Redacted returns the database URL without its password, for logs.
func (c *Config) Redacted() string { return redactURL(c.DatabaseURL) }
