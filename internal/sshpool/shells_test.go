package sshpool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// hostileWords are arguments that are code, or expand, in at least one login shell. Each names the marker file
// MARK, which must never come to exist.
var hostileWords = []string{
	`/tmp/x'; touch MARK; '`,         // closes POSIX single quotes
	`/tmp/x\'; touch MARK; #`,        // fish reads \' inside single quotes as a quote
	`/tmp/x\\'; touch MARK; #`,       // and \\ as one backslash
	`/tmp/$(touch MARK)`,             // command substitution (POSIX, bash, zsh, fish 3.4+)
	"/tmp/`touch MARK`",              // backquotes (POSIX, csh)
	`/tmp/(touch MARK)`,              // fish command substitution
	`/tmp/x; touch MARK`,             // command separator
	`/tmp/x | touch MARK`,            // pipe
	`/tmp/x && touch MARK`,           // and-list
	`/tmp/!touch MARK`,               // csh history expansion, even inside single quotes
	`/tmp/x!!`,                       // csh: repeat the last command
	"/tmp/x\ntouch MARK\n",           // newline: csh refuses it inside single quotes
	"/tmp/x\\\ntouch MARK",           // backslash-newline
	`/tmp/{a,b}/$HOME/~root/*/%self`, // brace, parameter, tilde, glob and fish process expansion
	`=ls /tmp/x`,                     // zsh equals expansion
	`/tmp/x'"'"'; touch MARK; '`,     // sh-style quote juggling
	`/tmp/x > MARK`,                  // redirection
	`/tmp/x" ; touch MARK ; "`,       // double quotes
}

// TestFaultHostileInputLoginShells runs the product's commands through real sshd under every login shell a
// device may give its SSH user, with arguments that are code in one shell or another: none of them may run
// anything, and every argument the builders accept must reach the command byte for byte.
func TestFaultHostileInputLoginShells(t *testing.T) {
	for _, sh := range testenv.LoginShells {
		t.Run(sh.Name, func(t *testing.T) {
			t.Parallel()
			user := testenv.LoginShellUser(t, sh)
			s := testenv.StartSSHD(t, testenv.SSHDOptions{User: user})
			p, _, _ := testPool(t, func(c *Config) { c.CommandTimeout = 20 * time.Second }, map[string]*testenv.SSHD{"dev": s})
			tgt := targetOf("dev", s)
			run := func(cmd string) (*Result, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				return p.Run(ctx, tgt, cmd, nil)
			}

			// A directory the login user can write to, so a successful injection would leave its marker.
			dir, err := os.MkdirTemp("", "infra-hostile-")
			require.NoError(t, err)
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			require.NoError(t, os.Chmod(dir, 0o777))

			res, err := run("id -un")
			require.NoError(t, err)
			require.Equal(t, user+"\n", string(res.Stdout))

			for i, w := range hostileWords {
				mark := filepath.Join(dir, "pwned-"+strconv.Itoa(i))
				word := strings.ReplaceAll(w, "MARK", mark)
				t.Run(strconv.Itoa(i), func(t *testing.T) {
					// Checked however the rest ends, so a failed assertion cannot hide a command that ran.
					defer func() {
						if _, err := os.Lstat(mark); !errors.Is(err, os.ErrNotExist) {
							t.Errorf("%q ran code under %s: %s exists", word, sh.Name, mark)
						}
					}()
					// The quoting itself: the word reaches printf unchanged.
					res, err := run(docker.Join("printf", "%s", word))
					require.NoError(t, err, "stderr: %s", resStderr(res))
					require.Equal(t, word, string(res.Stdout))

					// Compose, whose directory comes from a container label any image can set: refused or
					// passed on literally, never run.
					for _, build := range []func(string, string) (string, error){
						docker.ComposeUp, docker.ComposeDown, docker.ComposePull, docker.ComposeRestart,
					} {
						cmd, err := build("demo", word)
						if err != nil {
							var ae *docker.ArgError
							require.ErrorAs(t, err, &ae)
							require.Equal(t, "workdir", ae.Arg)
							continue
						}
						res, err := run(cmd)
						// The directory does not exist: sh's cd reports it, which is as far as the script gets.
						require.Equal(t, CommandFailed, KindOf(err), "%v", err)
						require.Equal(t, 1, res.ExitCode, "stderr: %s", res.Stderr)
						require.Contains(t, string(res.Stderr), "cd", "the compose script did not reach cd")
					}

					// Everything else a device or a caller names is held to Docker's grammars.
					_, err = docker.Stop(word, 10)
					require.ErrorIs(t, err, docker.ErrInvalidArgument)
					_, err = docker.Logs("web", docker.LogOptions{Since: word})
					require.ErrorIs(t, err, docker.ErrInvalidArgument)
					_, err = docker.Kill("web", word)
					require.ErrorIs(t, err, docker.ErrInvalidArgument)
					_, err = docker.ComposeUp(word, "/srv/demo")
					require.ErrorIs(t, err, docker.ErrInvalidArgument)
				})
			}

			// The fixed multi-line scripts (probe, cgroup statistics) run as sh scripts, whatever the login shell.
			res, err = run(docker.Probe())
			var stdout, stderr []byte
			if res != nil {
				stdout, stderr = res.Stdout, res.Stderr
			}
			exit := 0
			if res != nil {
				exit = res.ExitCode
			}
			av := docker.ClassifyProbe(stdout, stderr, exit)
			require.NotEqual(t, docker.Unknown, av.State, "probe under %s: %v: %s", sh.Name, err, stderr)

			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "something wrote into the marker directory under %s", sh.Name)
		})
	}
}

func resStderr(r *Result) string {
	if r == nil {
		return ""
	}
	return string(r.Stderr)
}
