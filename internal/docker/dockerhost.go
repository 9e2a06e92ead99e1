package docker

import (
	"regexp"
	"strings"
)

// dockerHostPattern is the DOCKER_HOST a device may name: a local unix socket (e.g. a socket proxy's
// unix:///run/docker-proxy.sock) or a TCP address (e.g. tcp://127.0.0.1:2375). Quotes, spaces and shell
// characters are impossible by construction, so the value can never leave the word it is placed in; the device
// wrapper and the database check the same grammar.
var dockerHostPattern = regexp.MustCompile(`^(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]{1,5})$`)

// MaxDockerHostLen bounds a DOCKER_HOST value.
const MaxDockerHostLen = 200

// ValidDockerHost checks a device's DOCKER_HOST: unix:///absolute/path or tcp://host:port.
func ValidDockerHost(s string) error {
	switch {
	case s == "":
		return argErr("docker_host", s, "is empty")
	case len(s) > MaxDockerHostLen:
		return argErr("docker_host", s, "is longer than 200 characters")
	case !strings.HasPrefix(s, "unix://") && !strings.HasPrefix(s, "tcp://"):
		return argErr("docker_host", s, "must start with unix:// or tcp://")
	case strings.Contains(s, ".."):
		return argErr("docker_host", s, "must not contain '..'")
	case !dockerHostPattern.MatchString(s):
		return argErr("docker_host", s, "must be unix:///path/to/socket or tcp://host:port (letters, digits, '.', '_', '-', '/')")
	}
	return nil
}

// WithDockerHost prefixes a docker command (any command this package builds) so that it talks to host instead
// of the default socket: `env DOCKER_HOST=<host> <cmd>`. env is a program, so the prefix means the same in every
// login shell (sh, bash, zsh, fish, tcsh), unlike a shell's own VAR=value prefix. An empty host returns cmd
// unchanged; an invalid one is an error, never a command.
func WithDockerHost(cmd, host string) (string, error) {
	if host == "" {
		return cmd, nil
	}
	if err := ValidDockerHost(host); err != nil {
		return "", err
	}
	return Join("env", "DOCKER_HOST="+host) + " " + cmd, nil
}
