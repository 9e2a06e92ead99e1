package config

import (
	"bufio"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// env returns a lookup function over a fixed map, so tests never read or change the process environment.
func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadFrom(env(nil))
	require.NoError(t, err)
	require.Equal(t, &Config{
		DatabaseURL:         "postgres://infrastructor@127.0.0.1:9100/infrastructor?sslmode=disable",
		TemporalAddress:     "127.0.0.1:7233",
		TemporalNamespace:   "default",
		TemporalUIURL:       "http://127.0.0.1:8233",
		TaskQueue:           "infrastructor",
		Listen:              "127.0.0.1:9101",
		DataDir:             ".data",
		LogLevel:            slog.LevelInfo,
		LogFormat:           "auto",
		MaxBodyBytes:        1 << 20,
		ShutdownTimeout:     15 * time.Second,
		WSMaxPerToken:       20,
		LogTailsPerToken:    5,
		LogTailsPerDevice:   3,
		LogTailIdle:         30 * time.Second,
		RequestTimeout:      30 * time.Second,
		WorkerMetricsListen: "127.0.0.1:9102",
		// Tokens (#15).
		TokenRecheck:           30 * time.Second,
		AuthFailuresPerMinute:  10,
		TokenRequestsPerMinute: 6000,
		TemporalCompression:    "none",
		ImageCheckInterval:     6 * time.Hour,
	}, cfg)
}

// TestSettingsDefaultsMatchLoad keeps the documented defaults (config.Settings, the README table) equal to the
// values Load really uses when a variable is unset.
func TestSettingsDefaultsMatchLoad(t *testing.T) {
	t.Parallel()
	cfg, err := LoadFrom(env(nil))
	require.NoError(t, err)
	actual := map[string]string{
		"INFRA_DATABASE_URL":          cfg.DatabaseURL,
		"INFRA_TEMPORAL_ADDRESS":      cfg.TemporalAddress,
		"INFRA_TEMPORAL_NAMESPACE":    cfg.TemporalNamespace,
		"INFRA_TEMPORAL_UI_URL":       cfg.TemporalUIURL,
		"INFRA_TEMPORAL_COMPRESSION":  cfg.TemporalCompression,
		"INFRA_TASK_QUEUE":            cfg.TaskQueue,
		"INFRA_LISTEN":                cfg.Listen,
		"INFRA_DATA_DIR":              cfg.DataDir,
		"INFRA_LOG_LEVEL":             strings.ToLower(cfg.LogLevel.String()),
		"INFRA_LOG_FORMAT":            cfg.LogFormat,
		"INFRA_MAX_BODY_BYTES":        strconv.Itoa(cfg.MaxBodyBytes),
		"INFRA_SHUTDOWN_TIMEOUT":      cfg.ShutdownTimeout.String(),
		"INFRA_WS_MAX_PER_TOKEN":      strconv.Itoa(cfg.WSMaxPerToken),
		"INFRA_MCP_READONLY":          strconv.FormatBool(cfg.MCPReadOnly),
		"INFRA_LOG_TAILS_PER_TOKEN":   strconv.Itoa(cfg.LogTailsPerToken),
		"INFRA_LOG_TAILS_PER_DEVICE":  strconv.Itoa(cfg.LogTailsPerDevice),
		"INFRA_LOG_TAIL_IDLE":         cfg.LogTailIdle.String(),
		"INFRA_REQUEST_TIMEOUT":       cfg.RequestTimeout.String(),
		"INFRA_DB_MAX_CONNS":          strconv.Itoa(cfg.DBMaxConns),
		"INFRA_WORKER_METRICS_LISTEN": cfg.WorkerMetricsListen,
		"INFRA_NOTIFY_ALLOW_LOOPBACK": strconv.FormatBool(cfg.NotifyAllowLoopback),
		// Tokens (#15).
		"INFRA_TOKEN_DEFAULT_TTL":         "0",
		"INFRA_IMAGE_CHECK_INTERVAL":      "6h",
		"INFRA_TOKEN_RECHECK_INTERVAL":    cfg.TokenRecheck.String(),
		"INFRA_AUTH_FAILURES_PER_MINUTE":  strconv.Itoa(cfg.AuthFailuresPerMinute),
		"INFRA_TOKEN_REQUESTS_PER_MINUTE": strconv.Itoa(cfg.TokenRequestsPerMinute),
	}
	unset := map[string]bool{"INFRA_ADMIN_TOKEN": cfg.AdminToken == "", "INFRA_SSH_KEY": len(cfg.SSHKeys) == 0,
		"INFRA_WS_ORIGINS": len(cfg.WSOrigins) == 0, "INFRA_SECRET_KEY": cfg.SecretKey == "",
		"INFRA_METRICS_TOKEN": cfg.MetricsToken == ""}
	seen := map[string]bool{}
	for _, s := range Settings {
		require.False(t, seen[s.Name], "%s listed twice in Settings", s.Name)
		seen[s.Name] = true
		require.NotEmpty(t, s.Meaning, "%s has no meaning", s.Name)
		switch {
		case s.Name == "INFRA_SSH_AGENT":
			require.Equal(t, "true when SSH_AUTH_SOCK is set", s.Default)
		case s.Default == "(unset)":
			require.True(t, unset[s.Name], "%s is documented as unset by default", s.Name)
		default:
			v, ok := actual[s.Name]
			require.True(t, ok, "test does not know %s: add it here", s.Name)
			require.Equal(t, s.Default, v, "documented default of %s", s.Name)
		}
	}
	// Every variable Load reads must be documented.
	for _, name := range append(keysOf(actual), "INFRA_ADMIN_TOKEN", "INFRA_SSH_KEY", "INFRA_SSH_AGENT", "INFRA_WS_ORIGINS",
		"INFRA_SECRET_KEY", "INFRA_METRICS_TOKEN") {
		require.True(t, seen[name], "%s is read by Load but missing from Settings", name)
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLoadAcceptsValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key1, key2 := filepath.Join(dir, "id_a"), filepath.Join(dir, "id_b")
	for _, p := range []string{key1, key2} {
		require.NoError(t, os.WriteFile(p, []byte("key"), 0o600))
	}
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"trimmed values", map[string]string{"INFRA_LISTEN": "  0.0.0.0:8080 \n"}, func(t *testing.T, c *Config) {
			require.Equal(t, "0.0.0.0:8080", c.Listen)
		}},
		{"blank means default", map[string]string{"INFRA_LISTEN": "   "}, func(t *testing.T, c *Config) {
			require.Equal(t, "127.0.0.1:9101", c.Listen)
		}},
		{"empty host listens everywhere", map[string]string{"INFRA_LISTEN": ":9101"}, func(t *testing.T, c *Config) {
			require.Equal(t, ":9101", c.Listen)
		}},
		{"postgresql scheme and socket host", map[string]string{"INFRA_DATABASE_URL": "postgresql:///infra?host=/run/postgresql"},
			func(t *testing.T, c *Config) {
				require.Equal(t, "postgresql:///infra?host=/run/postgresql", c.DatabaseURL)
			}},
		{"UI URL without trailing slash", map[string]string{"INFRA_TEMPORAL_UI_URL": "https://temporal.example:8233/"},
			func(t *testing.T, c *Config) { require.Equal(t, "https://temporal.example:8233", c.TemporalUIURL) }},
		{"key list with commas and colons", map[string]string{"INFRA_SSH_KEY": key1 + "," + key2 + ":" + key1},
			func(t *testing.T, c *Config) { require.Equal(t, []string{key1, key2, key1}, c.SSHKeys) }},
		{"agent from SSH_AUTH_SOCK", map[string]string{"SSH_AUTH_SOCK": "/tmp/agent"},
			func(t *testing.T, c *Config) { require.True(t, c.SSHAgent) }},
		{"agent off despite SSH_AUTH_SOCK", map[string]string{"SSH_AUTH_SOCK": "/tmp/agent", "INFRA_SSH_AGENT": "false"},
			func(t *testing.T, c *Config) { require.False(t, c.SSHAgent) }},
		{"Temporal compression gzip, any case", map[string]string{"INFRA_TEMPORAL_COMPRESSION": "GZip"},
			func(t *testing.T, c *Config) { require.Equal(t, "gzip", c.TemporalCompression) }},
		{"log settings case-insensitive", map[string]string{"INFRA_LOG_LEVEL": "DEBUG", "INFRA_LOG_FORMAT": "JSON"},
			func(t *testing.T, c *Config) {
				require.Equal(t, slog.LevelDebug, c.LogLevel)
				require.Equal(t, "json", c.LogFormat)
			}},
		{"admin token of 32 characters", map[string]string{"INFRA_ADMIN_TOKEN": strings.Repeat("a", 32)},
			func(t *testing.T, c *Config) { require.Equal(t, strings.Repeat("a", 32), c.AdminToken) }},
		{"body and shutdown bounds", map[string]string{"INFRA_MAX_BODY_BYTES": "4096", "INFRA_SHUTDOWN_TIMEOUT": "10m"},
			func(t *testing.T, c *Config) {
				require.Equal(t, 4096, c.MaxBodyBytes)
				require.Equal(t, 10*time.Minute, c.ShutdownTimeout)
			}},
		{"WebSocket origins normalised", map[string]string{"INFRA_WS_ORIGINS": " HTTPS://Dash.Example:8443/ ,, http://10.0.0.5,*"},
			func(t *testing.T, c *Config) {
				require.Equal(t, []string{"https://dash.example:8443", "http://10.0.0.5", "*"}, c.WSOrigins)
			}},
		{"WebSocket connection limit", map[string]string{"INFRA_WS_MAX_PER_TOKEN": "1"},
			func(t *testing.T, c *Config) { require.Equal(t, 1, c.WSMaxPerToken) }},
		{"token settings", map[string]string{"INFRA_TOKEN_DEFAULT_TTL": "2160h", "INFRA_TOKEN_RECHECK_INTERVAL": "1s",
			"INFRA_AUTH_FAILURES_PER_MINUTE": "3", "INFRA_TOKEN_REQUESTS_PER_MINUTE": "0"},
			func(t *testing.T, c *Config) {
				require.Equal(t, 2160*time.Hour, c.TokenDefaultTTL)
				require.Equal(t, time.Second, c.TokenRecheck)
				require.Equal(t, 3, c.AuthFailuresPerMinute)
				require.Equal(t, 0, c.TokenRequestsPerMinute)
			}},
		{"MCP read-only", map[string]string{"INFRA_MCP_READONLY": "true"},
			func(t *testing.T, c *Config) { require.True(t, c.MCPReadOnly) }},
		{"database and metrics settings", map[string]string{"INFRA_REQUEST_TIMEOUT": "5s", "INFRA_DB_MAX_CONNS": "64",
			"INFRA_METRICS_TOKEN": strings.Repeat("m", 32), "INFRA_WORKER_METRICS_LISTEN": ":9200"},
			func(t *testing.T, c *Config) {
				require.Equal(t, 5*time.Second, c.RequestTimeout)
				require.Equal(t, 64, c.DBMaxConns)
				require.Equal(t, strings.Repeat("m", 32), c.MetricsToken)
				require.Equal(t, ":9200", c.WorkerMetricsListen)
			}},
		{"worker metrics listener off", map[string]string{"INFRA_WORKER_METRICS_LISTEN": ""},
			func(t *testing.T, c *Config) { require.Empty(t, c.WorkerMetricsListen) }},
		{"secret key and loopback targets", map[string]string{"INFRA_SECRET_KEY": strings.Repeat("A", 43) + "=",
			"INFRA_NOTIFY_ALLOW_LOOPBACK": "true"}, func(t *testing.T, c *Config) {
			require.Equal(t, strings.Repeat("A", 43)+"=", c.SecretKey)
			require.True(t, c.NotifyAllowLoopback)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadFrom(env(tt.env))
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name, value string
	}{
		{"INFRA_DATABASE_URL", "mysql://root@localhost/db"},
		{"INFRA_DATABASE_URL", "postgres:///nohost"},
		{"INFRA_DATABASE_URL", "://bad"},
		{"INFRA_TEMPORAL_ADDRESS", "localhost"},
		{"INFRA_TEMPORAL_ADDRESS", "localhost:port"},
		{"INFRA_TEMPORAL_ADDRESS", "localhost:70000"},
		{"INFRA_TEMPORAL_NAMESPACE", "has space"},
		{"INFRA_TEMPORAL_NAMESPACE", "a/b"},
		{"INFRA_TEMPORAL_NAMESPACE", strings.Repeat("n", 256)},
		{"INFRA_TEMPORAL_UI_URL", "ftp://host"},
		{"INFRA_TEMPORAL_UI_URL", "http://"},
		{"INFRA_TEMPORAL_UI_URL", "localhost:8233"},
		{"INFRA_TASK_QUEUE", "queue;drop"},
		{"INFRA_LISTEN", "9101"},
		{"INFRA_LISTEN", "127.0.0.1:-1"},
		{"INFRA_LISTEN", "127.0.0.1:http"},
		{"INFRA_DATA_DIR", file},
		{"INFRA_ADMIN_TOKEN", "short"},
		{"INFRA_ADMIN_TOKEN", strings.Repeat("a", 20) + " " + strings.Repeat("b", 20)},
		{"INFRA_IMAGE_CHECK_INTERVAL", "10m"},
		{"INFRA_IMAGE_CHECK_INTERVAL", "1y"},
		{"INFRA_TOKEN_DEFAULT_TTL", "90d"},
		{"INFRA_TOKEN_DEFAULT_TTL", "30s"},
		{"INFRA_TOKEN_DEFAULT_TTL", "-1h"},
		{"INFRA_TOKEN_RECHECK_INTERVAL", "0s"},
		{"INFRA_TOKEN_RECHECK_INTERVAL", "1h"},
		{"INFRA_AUTH_FAILURES_PER_MINUTE", "0"},
		{"INFRA_AUTH_FAILURES_PER_MINUTE", "few"},
		{"INFRA_TOKEN_REQUESTS_PER_MINUTE", "-1"},
		{"INFRA_TOKEN_REQUESTS_PER_MINUTE", "lots"},
		{"INFRA_SSH_KEY", filepath.Join(dir, "missing")},
		{"INFRA_SSH_KEY", dir},
		{"INFRA_SSH_AGENT", "maybe"},
		{"INFRA_LOG_LEVEL", "verbose"},
		{"INFRA_LOG_FORMAT", "xml"},
		{"INFRA_TEMPORAL_COMPRESSION", "zstd"},
		{"INFRA_MAX_BODY_BYTES", "lots"},
		{"INFRA_MAX_BODY_BYTES", "100"},
		{"INFRA_MAX_BODY_BYTES", "1000000000"},
		{"INFRA_SHUTDOWN_TIMEOUT", "15"},
		{"INFRA_SHUTDOWN_TIMEOUT", "-1s"},
		{"INFRA_SHUTDOWN_TIMEOUT", "1h"},
		{"INFRA_WS_ORIGINS", "dash.example"},
		{"INFRA_WS_ORIGINS", "https://dash.example/path"},
		{"INFRA_WS_ORIGINS", "ftp://dash.example"},
		{"INFRA_WS_ORIGINS", "https://user@dash.example"},
		{"INFRA_WS_MAX_PER_TOKEN", "0"},
		{"INFRA_WS_MAX_PER_TOKEN", "many"},
		{"INFRA_LOG_TAILS_PER_TOKEN", "0"},
		{"INFRA_LOG_TAILS_PER_DEVICE", "9"},
		{"INFRA_LOG_TAIL_IDLE", "1s"},
		{"INFRA_MCP_READONLY", "sometimes"},
		{"INFRA_REQUEST_TIMEOUT", "30"},
		{"INFRA_REQUEST_TIMEOUT", "100ms"},
		{"INFRA_REQUEST_TIMEOUT", "1h"},
		{"INFRA_DB_MAX_CONNS", "-1"},
		{"INFRA_DB_MAX_CONNS", "lots"},
		{"INFRA_METRICS_TOKEN", "short"},
		{"INFRA_WORKER_METRICS_LISTEN", "9102"},
		{"INFRA_SECRET_KEY", "not base64!"},
		{"INFRA_SECRET_KEY", "c2hvcnQ="},
		{"INFRA_NOTIFY_ALLOW_LOOPBACK", "yes please"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.name] = true
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := LoadFrom(env(map[string]string{tt.name: tt.value}))
			require.Error(t, err)
			var ce *Error
			require.True(t, errors.As(err, &ce), "want *config.Error, got %T: %v", err, err)
			require.Equal(t, tt.name, ce.Name)
			require.Contains(t, err.Error(), tt.name)
			require.NotContains(t, err.Error(), "\n", "the message must fit on one line")
		})
	}
	// Every documented variable has at least one bad value above.
	for _, s := range Settings {
		require.True(t, covered[s.Name], "no bad-value case for %s", s.Name)
	}
}

// TestErrorsHideSecrets: a bad value is echoed to help the user, except secrets.
func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	_, err := LoadFrom(env(map[string]string{"INFRA_DATABASE_URL": "mysql://user:hunter2@db/x"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")

	_, err = LoadFrom(env(map[string]string{"INFRA_ADMIN_TOKEN": "secret-but-short"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret-but-short")

	_, err = LoadFrom(env(map[string]string{"INFRA_METRICS_TOKEN": "scraper-secret"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "scraper-secret")
	_, err = LoadFrom(env(map[string]string{"INFRA_SECRET_KEY": "c2hvcnQtc2VjcmV0"}))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "c2hvcnQtc2VjcmV0")

	c, err := LoadFrom(env(map[string]string{"INFRA_DATABASE_URL": "postgres://user:hunter2@db:5432/x"}))
	require.NoError(t, err)
	require.NotContains(t, c.Redacted(), "hunter2")
	require.Contains(t, c.Redacted(), "db:5432/x")
}

// TestREADMEDocumentsEverySetting: the README's configuration table lists every entry of Settings with its
// default, and no variable that Load does not read.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testenv.RepoRoot(t), "README.md")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("README.md does not exist yet at %s; this test checks its configuration table once it does", path)
	}
	require.NoError(t, err)

	// rows maps a variable named in the first cell of a table row to the whole row.
	rows := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.Trim(strings.TrimSpace(cells[0]), "`*")
		if strings.HasPrefix(first, "INFRA_") {
			rows[first] = line
		}
	}
	documented := map[string]bool{}
	for _, s := range Settings {
		documented[s.Name] = true
		row, ok := rows[s.Name]
		require.True(t, ok, "README.md has no table row for %s", s.Name)
		require.Contains(t, row, s.Default, "README.md row of %s does not show its default %q", s.Name, s.Default)
	}
	for name := range rows {
		if strings.HasPrefix(name, "INFRA_TEST_") {
			continue // variables of the test harness, documented for developers
		}
		require.True(t, documented[name], "README.md documents %s, which config.Settings does not list", name)
	}
}
