package docker

import (
	"fmt"
	"strconv"
	"strings"
)

// ShellQuote quotes s as one POSIX shell word. Words made only of characters no shell treats specially are
// returned as they are, for readable commands; everything else is wrapped in single quotes, with each ' written
// as '\”. An empty string becomes ”.
func ShellQuote(s string) string {
	if s != "" && isPlainWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isPlainWord reports whether s needs no quoting in sh, bash, zsh or fish. '=' and '~' are left out because zsh
// expands a leading "=cmd" and shells expand "~user"; '%' because fish once expanded "%name".
func isPlainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == ',' || c == '@' || c == '+':
		default:
			return false
		}
	}
	return true
}

// Join quotes every word and joins them with spaces.
func Join(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// script returns a command that runs a fixed sh script with args as "$1"...: `sh -c '<script>' sh args...`.
func script(body string, args ...string) string {
	return Join(append([]string{"sh", "-c", body, "sh"}, args...)...)
}

// Inventory lists every container, one JSON object per line (see ParsePS).
func Inventory() string {
	return Join("docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}")
}

// Inspect returns the docker inspect JSON array of the given containers (see ParseInspect). "--type container"
// keeps an image that happens to share a name out of the answer.
func Inspect(refs ...string) (string, error) {
	if len(refs) == 0 {
		return "", argErr("refs", "", "no container given")
	}
	if len(refs) > MaxInspect {
		return "", argErr("refs", strconv.Itoa(len(refs)), fmt.Sprintf("more than %d containers", MaxInspect))
	}
	for _, r := range refs {
		if err := ValidRef(r); err != nil {
			return "", err
		}
	}
	return Join(append([]string{"docker", "inspect", "--type", "container", "--"}, refs...)...), nil
}

// Stats returns one `docker stats` sample of every running container as JSON lines (see ParseStats). It is the
// simple, portable way, but each call takes about 1.5-2 s because docker samples twice to compute CPU%; prefer
// CgroupStats for periodic polling.
func Stats() string {
	return Join("docker", "stats", "--no-stream", "--no-trunc", "--format", "{{json .}}")
}

// refCommand validates ref and returns `docker <verb> [flags...] -- ref`. The "--" is a second fence after
// validation: even a reference that slipped through could not be read as an option.
func refCommand(ref string, verbAndFlags ...string) (string, error) {
	if err := ValidRef(ref); err != nil {
		return "", err
	}
	argv := append([]string{"docker"}, verbAndFlags...)
	return Join(append(argv, "--", ref)...), nil
}

// Start starts a created or stopped container.
func Start(ref string) (string, error) { return refCommand(ref, "start") }

// Stop stops a container, killing it after timeoutSec seconds (0..MaxStopTimeout).
func Stop(ref string, timeoutSec int) (string, error) {
	if err := ValidTimeout(timeoutSec); err != nil {
		return "", err
	}
	return refCommand(ref, "stop", "-t", strconv.Itoa(timeoutSec))
}

// Restart restarts a container, killing it after timeoutSec seconds (0..MaxStopTimeout) if it does not stop.
func Restart(ref string, timeoutSec int) (string, error) {
	if err := ValidTimeout(timeoutSec); err != nil {
		return "", err
	}
	return refCommand(ref, "restart", "-t", strconv.Itoa(timeoutSec))
}

// Pause freezes every process of a container.
func Pause(ref string) (string, error) { return refCommand(ref, "pause") }

// Unpause thaws a paused container.
func Unpause(ref string) (string, error) { return refCommand(ref, "unpause") }

// Kill sends a signal (see NormalizeSignal) to a container's main process.
func Kill(ref, signal string) (string, error) {
	sig, err := NormalizeSignal(signal)
	if err != nil {
		return "", err
	}
	return refCommand(ref, "kill", "--signal", sig)
}

// Remove deletes a container; force also removes a running one, volumes also its anonymous volumes.
func Remove(ref string, force, volumes bool) (string, error) {
	argv := []string{"rm"}
	if force {
		argv = append(argv, "--force")
	}
	if volumes {
		argv = append(argv, "--volumes")
	}
	return refCommand(ref, argv...)
}

// Logs returns a container's recent log lines, each prefixed with its RFC 3339 timestamp (see ParseLogLine).
// The command's stdout carries the container's stdout and its stderr the container's stderr (docker logs keeps
// the two streams apart for containers without a TTY; with a TTY everything is stdout), so the SSH layer must
// read them separately. docker's own error messages also go to stderr, but then the exit status is non-zero.
func Logs(ref string, opts LogOptions) (string, error) {
	tail, err := NormalizeTail(opts.Tail)
	if err != nil {
		return "", err
	}
	argv := []string{"logs", "--timestamps", "--tail", strconv.Itoa(tail)}
	since, err := NormalizeTime("since", opts.Since)
	if err != nil {
		return "", err
	}
	if since != "" {
		argv = append(argv, "--since", since)
	}
	until, err := NormalizeTime("until", opts.Until)
	if err != nil {
		return "", err
	}
	if until != "" {
		argv = append(argv, "--until", until)
	}
	return refCommand(ref, argv...)
}

// composeScript runs the compose v2 plugin when "docker compose" works and the standalone v1 docker-compose
// otherwise. It changes into the project directory first because docker-compose v1 looks for the compose file
// in the current directory, not in --project-directory. $1 is the directory ("" for none); the rest are the
// compose arguments.
const composeScript = `dir=$1; shift
if [ -n "$dir" ]; then cd -- "$dir" || exit 1; fi
if docker compose version >/dev/null 2>&1; then exec docker compose "$@"; fi
if command -v docker-compose >/dev/null 2>&1; then exec docker-compose "$@"; fi
echo "neither the docker compose plugin nor docker-compose is installed" >&2
exit 127`

// compose validates project and workdir and builds the compose command for the given subcommand.
func compose(project, workdir string, needDir bool, sub ...string) (string, error) {
	if err := ValidProject(project); err != nil {
		return "", err
	}
	if workdir != "" || needDir {
		if err := ValidWorkdir(workdir); err != nil {
			return "", err
		}
	}
	args := []string{workdir, "-p", project}
	if workdir != "" {
		args = append(args, "--project-directory", workdir)
	}
	return script(composeScript, append(args, sub...)...), nil
}

// ComposeUp creates and starts a compose project's services in the background. workdir is the directory holding
// its compose file (the com.docker.compose.project.working_dir label).
func ComposeUp(project, workdir string) (string, error) {
	return compose(project, workdir, true, "up", "--detach")
}

// ComposeDown stops and removes a project's containers and networks; volumes are kept. workdir may be empty:
// compose then finds the containers by their project label.
func ComposeDown(project, workdir string) (string, error) {
	return compose(project, workdir, false, "down")
}

// ComposePull pulls the images of a project's services.
func ComposePull(project, workdir string) (string, error) {
	return compose(project, workdir, true, "pull")
}

// ComposeRestart restarts a project's services.
func ComposeRestart(project, workdir string) (string, error) {
	return compose(project, workdir, true, "restart")
}
