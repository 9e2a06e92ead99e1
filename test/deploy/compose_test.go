package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// composeFile is the part of a rendered compose file these tests look at.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Secrets     []any             `yaml:"secrets"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test    any  `yaml:"test"`
			Disable bool `yaml:"disable"`
		} `yaml:"healthcheck"`
		ContainerName string   `yaml:"container_name"`
		ReadOnly      bool     `yaml:"read_only"`
		CapDrop       []string `yaml:"cap_drop"`
		Volumes       []any    `yaml:"volumes"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// renderCompose runs `docker-compose config` (Debian's docker-compose v1) on docker-compose.yaml with
// .env.example, in a clean environment so no variable of the caller's shell fills in a value.
func renderCompose(t *testing.T) composeFile {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed (Debian: apt-get install -y docker-compose); cannot validate docker-compose.yaml")
	}
	root := testenv.RepoRoot(t)
	cmd := exec.Command(bin, "--project-directory", root, "--file", filepath.Join(root, "docker-compose.yaml"),
		"--env-file", filepath.Join(root, ".env.example"), "config")
	cmd.Env = cleanEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "docker-compose config:\n%s", stderr.String())
	var cf composeFile
	require.NoError(t, yaml.Unmarshal(out, &cf), "rendered compose file:\n%s", out)
	return cf
}

// TestComposeConfig validates docker-compose.yaml with Debian's docker-compose and checks what the deployment
// promises: the services, their start order, healthchecks, that only the API listens publicly, that workers can
// be scaled, and that the SSH key is a read-only secret.
func TestComposeConfig(t *testing.T) {
	cf := renderCompose(t)

	names := make([]string, 0, len(cf.Services))
	for n := range cf.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, []string{"migrate", "server", "temporal", "temporal-ui", "timescaledb", "worker"}, names)

	// Start order: database → Temporal → migrations → API and workers.
	tests := []struct {
		service   string
		dependsOn map[string]string
	}{
		{"temporal", map[string]string{"timescaledb": "service_healthy"}},
		{"temporal-ui", map[string]string{"temporal": "service_healthy"}},
		{"migrate", map[string]string{"timescaledb": "service_healthy"}},
		{"server", map[string]string{"migrate": "service_completed_successfully", "temporal": "service_healthy"}},
		{"worker", map[string]string{"migrate": "service_completed_successfully", "temporal": "service_healthy"}},
	}
	for _, tt := range tests {
		t.Run("depends_on/"+tt.service, func(t *testing.T) {
			got := map[string]string{}
			for dep, d := range cf.Services[tt.service].DependsOn {
				got[dep] = d.Condition
			}
			require.Equal(t, tt.dependsOn, got)
		})
	}

	// Every service that others wait for has a healthcheck of its own (the server's comes from the image).
	for _, s := range []string{"timescaledb", "temporal"} {
		hc := cf.Services[s].Healthcheck
		require.NotNil(t, hc, "%s has no healthcheck", s)
		require.False(t, hc.Disable, s)
		require.NotEmpty(t, hc.Test, s)
	}
	require.Nil(t, cf.Services["server"].Healthcheck, "the server must keep the image's HEALTHCHECK (GET /readyz)")

	// Ports: the API on every interface, everything else on loopback only, the workers on none.
	published := map[string][]string{}
	for name, s := range cf.Services {
		published[name] = s.Ports
	}
	require.Equal(t, map[string][]string{
		"migrate":     nil,
		"server":      {"0.0.0.0:9101:9101/tcp"},
		"temporal":    {"127.0.0.1:7233:7233/tcp"},
		"temporal-ui": {"127.0.0.1:8233:8080/tcp"},
		"timescaledb": {"127.0.0.1:9100:5432/tcp"},
		"worker":      nil,
	}, published)

	// Workers scale with --scale worker=N: no fixed container name, no published port.
	require.Empty(t, cf.Services["worker"].ContainerName)
	require.Equal(t, []string{"worker"}, cf.Services["worker"].Command)
	require.Equal(t, []string{"server"}, cf.Services["server"].Command)
	require.Equal(t, []string{"migrate", "up"}, cf.Services["migrate"].Command)

	// The SSH key is a secret for the workers only, and INFRA_SSH_KEY points at it.
	require.Len(t, cf.Services["worker"].Secrets, 1)
	require.Equal(t, "/run/secrets/ssh_key", cf.Services["worker"].Environment["INFRA_SSH_KEY"])
	require.Empty(t, cf.Services["server"].Secrets)
	require.Empty(t, cf.Services["server"].Environment["INFRA_SSH_KEY"])
	require.Contains(t, cf.Secrets, "ssh_key")
	require.NotEmpty(t, cf.Secrets["ssh_key"].File)

	// Infrastructor's containers: one image, read-only root, no capabilities, valid settings.
	for _, s := range []string{"migrate", "server", "worker"} {
		svc := cf.Services[s]
		require.Equal(t, "infrastructor:latest", svc.Image, s)
		require.True(t, svc.ReadOnly, s)
		require.Equal(t, []string{"ALL"}, svc.CapDrop, s)
		env := svc.Environment
		_, err := config.LoadFrom(func(name string) (string, bool) {
			if name == "INFRA_SSH_KEY" {
				return "", false // a path inside the container; config.Load checks that the file exists
			}
			v, ok := env[name]
			return v, ok
		})
		require.NoError(t, err, "settings of %s", s)
		require.Equal(t, "temporal:7233", env["INFRA_TEMPORAL_ADDRESS"], s)
		require.Contains(t, env["INFRA_DATABASE_URL"], "@timescaledb:5432/infrastructor", s)
	}
}

// TestEnvExampleDocumentsEverySetting checks that .env.example names every INFRA_* setting of the binary and
// every variable docker-compose.yaml substitutes, so nothing a user can set is undocumented.
func TestEnvExampleDocumentsEverySetting(t *testing.T) {
	root := testenv.RepoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	require.NoError(t, err)
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	require.NoError(t, err)

	// Names assigned (NAME=...) or described in a comment (#   NAME=...).
	documented := map[string]bool{}
	assigned := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(example)))
	assign := regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=`)
	for sc.Scan() {
		if m := assign.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			documented[m[2]] = true
			if m[1] == "" {
				assigned[m[2]] = true
			}
		}
	}

	for _, s := range config.Settings {
		require.True(t, documented[s.Name], ".env.example does not mention %s", s.Name)
	}
	substituted := regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(string(compose), -1)
	require.NotEmpty(t, substituted)
	for _, m := range substituted {
		require.True(t, assigned[m[1]], ".env.example does not set %s, which docker-compose.yaml uses", m[1])
	}
	// And nothing set in .env.example is ignored by compose.
	for name := range assigned {
		require.Contains(t, string(compose), "${"+name, ".env.example sets %s, which docker-compose.yaml never uses", name)
	}
}

// runtimeInstructions returns the instructions of a Dockerfile's last stage that shape the running container
// (user, environment, ports, volumes, health check, entry point), with continuation lines joined.
func runtimeInstructions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if strings.HasPrefix(line, "FROM ") {
			out = nil // only the last stage counts
			continue
		}
		for _, kw := range []string{"USER ", "ENV ", "WORKDIR ", "VOLUME ", "EXPOSE ", "HEALTHCHECK ", "ENTRYPOINT ", "CMD "} {
			if strings.HasPrefix(line, kw) {
				out = append(out, line)
			}
		}
	}
	return out
}

// TestDockerfilesAgree keeps the image built from source (deploy/Dockerfile) and the one built from host binaries
// (deploy/Dockerfile.runtime, which the image test runs) the same at run time.
func TestDockerfilesAgree(t *testing.T) {
	root := testenv.RepoRoot(t)
	full := runtimeInstructions(t, filepath.Join(root, "deploy", "Dockerfile"))
	host := runtimeInstructions(t, filepath.Join(root, "deploy", "Dockerfile.runtime"))
	require.NotEmpty(t, full)
	require.Equal(t, full, host)
	require.Contains(t, full, "USER 65532:65532")
	require.Contains(t, full, `ENTRYPOINT ["/usr/local/bin/infrastructor"]`)
}
