package sshconfig

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
)

// cases are odd but realistic files; most of them are also checked against the real ssh -G in TestAgainstOpenSSH.
var cases = []struct {
	name string
	conf string
	want Result
	// noDiff marks files that ssh itself would evaluate differently on purpose (Match, Include, invalid values).
	noDiff bool
}{
	{
		name: "empty",
		conf: "",
		want: Result{},
	},
	{
		name: "comments and blank lines only",
		conf: "# a comment\n\n   # indented comment\n\t\n",
		want: Result{},
	},
	{
		name: "one host with everything",
		conf: `Host web1
    HostName 192.0.2.10
    User deploy
    Port 2222
    IdentityFile ~/.ssh/web
`,
		want: Result{Hosts: []Host{{Name: "web1", HostName: "192.0.2.10", User: "deploy", Port: 2222,
			IdentityFiles: []string{"~/.ssh/web"}, Line: 1}}},
	},
	{
		name: "missing HostName User and Port",
		conf: "Host bare.example.com\n",
		want: Result{Hosts: []Host{{Name: "bare.example.com", HostName: "bare.example.com", Line: 1}}},
	},
	{
		name: "keywords are case-insensitive, equals syntax, tabs",
		conf: "HOST\tdb\n\tHOSTNAME=10.0.0.5\n\tuser = postgres\n\tpOrT =5433\n\tIdentityFile= /keys/db\n",
		want: Result{Hosts: []Host{{Name: "db", HostName: "10.0.0.5", User: "postgres", Port: 5433,
			IdentityFiles: []string{"/keys/db"}, Line: 1}}},
	},
	{
		name: "CRLF line endings and trailing whitespace",
		conf: "Host nas\r\n  HostName nas.lan  \r\n  User admin\t\r\n",
		want: Result{Hosts: []Host{{Name: "nas", HostName: "nas.lan", User: "admin", Line: 1}}},
	},
	{
		name: "quoted values and trailing comments",
		conf: "Host \"quoted\"\n  HostName \"q.example.com\" # the box in the closet\n  IdentityFile \"~/.ssh/my key\"\n  User 'root'\n",
		want: Result{Hosts: []Host{{Name: "quoted", HostName: "q.example.com", User: "root",
			IdentityFiles: []string{"~/.ssh/my key"}, Line: 1}}},
	},
	{
		name: "Host star before: earlier values win",
		conf: `Host *
  User everyone
  Port 22022
Host app
  User app
  HostName app.internal
  Port 2200
`,
		want: Result{
			Hosts:   []Host{{Name: "app", HostName: "app.internal", User: "everyone", Port: 22022, Line: 4}},
			Skipped: []Skip{{Name: "Host *", Line: 1, Reason: wildcardReason}},
		},
	},
	{
		name: "Host star after: fills only unset fields",
		conf: `Host app
  HostName app.internal
  User app
Host *
  User everyone
  Port 2200
  IdentityFile ~/.ssh/default
`,
		want: Result{
			Hosts: []Host{{Name: "app", HostName: "app.internal", User: "app", Port: 2200,
				IdentityFiles: []string{"~/.ssh/default"}, Line: 1}},
			Skipped: []Skip{{Name: "Host *", Line: 4, Reason: wildcardReason}},
		},
	},
	{
		name: "options before the first Host apply to all",
		conf: "User globaluser\nPort 2022\n\nHost a\n  Port 1022\n",
		want: Result{Hosts: []Host{{Name: "a", HostName: "a", User: "globaluser", Port: 2022, Line: 4}}},
	},
	{
		name: "identity files accumulate across blocks",
		conf: "Host a\n  IdentityFile one\nHost a*\n  IdentityFile two\nHost *\n  IdentityFile none\n  IdentityFile three\n",
		want: Result{
			Hosts: []Host{{Name: "a", HostName: "a", IdentityFiles: []string{"one", "two", "three"}, Line: 1}},
			Skipped: []Skip{
				{Name: "Host a*", Line: 3, Reason: wildcardReason},
				{Name: "Host *", Line: 5, Reason: wildcardReason},
			},
		},
	},
	{
		name: "wildcard pattern applies to concrete hosts it matches",
		conf: "Host web?\n  User www\nHost web1 db1\n  HostName %h.example.com\n",
		want: Result{
			Hosts: []Host{
				{Name: "web1", HostName: "web1.example.com", User: "www", Line: 3},
				{Name: "db1", HostName: "db1.example.com", Line: 3},
			},
			Skipped: []Skip{{Name: "Host web?", Line: 1, Reason: wildcardReason}},
		},
	},
	{
		name: "multiple aliases mixed with wildcards on one line",
		conf: "Host alpha beta *.corp\n  User ops\n",
		want: Result{Hosts: []Host{
			{Name: "alpha", HostName: "alpha", User: "ops", Line: 1},
			{Name: "beta", HostName: "beta", User: "ops", Line: 1},
		}},
	},
	{
		name: "negated pattern excludes a host from a wildcard block",
		conf: "Host * !bastion\n  ProxyJump jump@bastion:2222\nHost bastion box\n  User me\n",
		want: Result{
			Hosts: []Host{
				{Name: "bastion", HostName: "bastion", User: "me", Line: 3},
				{Name: "box", HostName: "box", User: "me", ProxyJump: "jump@bastion:2222", Line: 3},
			},
			Skipped: []Skip{{Name: "Host * !bastion", Line: 1, Reason: wildcardReason}},
		},
	},
	{
		name: "negated alias on its own line",
		conf: "Host web1 web2 !web2\n  User x\n",
		want: Result{
			Hosts:   []Host{{Name: "web1", HostName: "web1", User: "x", Line: 1}},
			Skipped: []Skip{{Name: "web2", Line: 1, Reason: "excluded by a negated pattern on its own Host line"}},
		},
	},
	{
		name: "ProxyJump with user host port list and none",
		conf: "Host inner\n  ProxyJump admin@jump.example.com:2222,second\nHost direct\n  ProxyJump none\nHost *\n  ProxyJump other\n",
		want: Result{
			Hosts: []Host{
				{Name: "inner", HostName: "inner", ProxyJump: "admin@jump.example.com:2222,second", Line: 1},
				{Name: "direct", HostName: "direct", Line: 3},
			},
			Skipped: []Skip{{Name: "Host *", Line: 5, Reason: wildcardReason}},
		},
	},
	{
		name: "HostName percent tokens and upper-case alias",
		conf: "Host Router\n  Port 22\nHost Plain\nHost *\n  HostName %h.lan\n",
		want: Result{
			Hosts: []Host{
				{Name: "Router", HostName: "router.lan", Port: 22, Line: 1},
				{Name: "Plain", HostName: "plain.lan", Line: 3},
			},
			Skipped: []Skip{{Name: "Host *", Line: 4, Reason: wildcardReason}},
		},
	},
	{
		name:   "Match blocks are skipped entirely",
		noDiff: true,
		conf: `Host a
  User alice
Match host a exec "true"
  User matched
  Port 9
Host b
  Port 2022
`,
		want: Result{
			Hosts: []Host{{Name: "a", HostName: "a", User: "alice", Line: 1}, {Name: "b", HostName: "b", Port: 2022, Line: 6}},
			Skipped: []Skip{{Name: "Match host a exec true", Line: 3,
				Reason: "Match blocks need evaluation when connecting; their settings are not applied"}},
		},
	},
	{
		name:   "Include is reported and not followed",
		noDiff: true,
		conf:   "Include ~/.ssh/config.d/*\nHost a\n",
		want: Result{
			Hosts:   []Host{{Name: "a", HostName: "a", Line: 2}},
			Skipped: []Skip{{Name: "~/.ssh/config.d/*", Line: 1, Reason: "Include is not followed; import the included file separately"}},
		},
	},
	{
		name:   "invalid port skips the host and names the line",
		noDiff: true,
		conf:   "Host a b\n  Port 22\nHost b c\n  Port http\n",
		want: Result{
			Hosts: []Host{{Name: "a", HostName: "a", Port: 22, Line: 1}, {Name: "b", HostName: "b", Port: 22, Line: 1}},
			Skipped: []Skip{
				{Name: "c", Line: 3, Reason: `line 4: invalid Port "http"`},
			},
			Warnings: []Warning{{Line: 3, Message: `host "b" already defined on line 1; the first definition is imported`}},
		},
	},
	{
		name:   "port out of range",
		noDiff: true,
		conf:   "Host a\n  Port 70000\n",
		want:   Result{Skipped: []Skip{{Name: "a", Line: 1, Reason: `line 2: invalid Port "70000"`}}},
	},
	{
		name:   "invalid host name and user",
		noDiff: true,
		conf:   "Host a\n  HostName \"bad host\"\nHost b\n  User \"x\ty\"\nHost c\n  HostName -oProxyCommand=x\nHost d\n  User %u\n",
		want: Result{Skipped: []Skip{
			{Name: "a", Line: 1, Reason: `HostName "bad host" contains whitespace (line 2)`},
			{Name: "b", Line: 3, Reason: `line 4: User "x\ty" contains whitespace`},
			{Name: "c", Line: 5, Reason: `HostName "-oProxyCommand=x" starts with '-' (line 6)`},
			{Name: "d", Line: 7, Reason: `line 8: User "%u" uses %-tokens that are only known when connecting`},
		}},
	},
	{
		name:   "malformed lines become warnings",
		noDiff: true,
		conf:   "Host a\n  User\n  HostName \"unterminated\n  Frobnicate yes\n",
		want: Result{
			Hosts: []Host{{Name: "a", HostName: "a", Line: 1}},
			Warnings: []Warning{
				{Line: 2, Message: `no argument after keyword "User", line ignored`},
				{Line: 3, Message: `keyword "HostName": invalid quotes, line ignored`},
			},
		},
	},
	{
		name:   "ProxyCommand wins over a later ProxyJump and is warned about",
		noDiff: true,
		conf:   "Host a\n  ProxyCommand ssh -W %h:%p gw\nHost *\n  ProxyJump gw\n",
		want: Result{
			Hosts:    []Host{{Name: "a", HostName: "a", Line: 1}},
			Skipped:  []Skip{{Name: "Host *", Line: 3, Reason: wildcardReason}},
			Warnings: []Warning{{Line: 2, Message: `host "a" uses ProxyCommand, which is not supported; connecting directly`}},
		},
	},
}

const wildcardReason = "wildcard or negated patterns only; its settings apply to the hosts it matches"

func TestParse(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.conf))
			require.NoError(t, err)
			require.Equal(t, tc.want, *got)
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse(bytes.NewReader(make([]byte, MaxFileSize+1)))
	require.ErrorIs(t, err, ErrTooLarge)
}

// TestAgainstOpenSSH checks the resolved values against what the real ssh client computes with `ssh -G`, which
// prints the final configuration for a host without connecting.
func TestAgainstOpenSSH(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("OpenSSH client not installed; cannot compare with ssh -G")
	}
	dir := t.TempDir()
	for i, tc := range cases {
		if tc.noDiff || len(tc.want.Hosts) == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strconv.Itoa(i))
			require.NoError(t, os.WriteFile(path, []byte(tc.conf), 0o600))
			res, err := Parse(strings.NewReader(tc.conf))
			require.NoError(t, err)
			for _, h := range res.Hosts {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, err := exec.CommandContext(ctx, sshPath, "-G", "-F", path, h.Name).Output()
				cancel()
				require.NoError(t, err, "ssh -G %s", h.Name)
				g := sshG(out)
				require.Equal(t, g["hostname"][0], h.HostName, "hostname of %s", h.Name)
				wantPort := "22"
				if h.Port != 0 {
					wantPort = strconv.Itoa(h.Port)
				}
				require.Equal(t, wantPort, g["port"][0], "port of %s", h.Name)
				if h.User != "" {
					require.Equal(t, h.User, g["user"][0], "user of %s", h.Name)
				}
				if h.ProxyJump != "" {
					require.Equal(t, []string{h.ProxyJump}, g["proxyjump"], "proxyjump of %s", h.Name)
				} else {
					require.Empty(t, g["proxyjump"], "proxyjump of %s", h.Name)
				}
				if len(h.IdentityFiles) > 0 {
					// ssh -G lists "none" entries; Parse drops them because they name no key file.
					var files []string
					for _, f := range g["identityfile"] {
						if f != "none" {
							files = append(files, f)
						}
					}
					require.Equal(t, h.IdentityFiles, files, "identityfile of %s", h.Name)
				}
			}
		})
	}
}

// sshG parses `ssh -G` output: one "key value" per line, keys repeat for list options.
func sshG(out []byte) map[string][]string {
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		m[k] = append(m[k], v)
	}
	return m
}

func FuzzParse(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.conf)
	}
	f.Add("Host=a\nHostName=\"%h%%\"\n")
	f.Add("Host a\\ b\n")
	f.Fuzz(func(t *testing.T, conf string) { checkParse(t, conf) })
}

// checkParse parses conf and checks the result's invariants and bounds (#15): no panic, valid hosts, lists
// within their limits and allocation within allocBound.
func checkParse(t testing.TB, conf string) {
	var res *Result
	var err error
	alloc := malformed.Allocated(func() { res, err = Parse(strings.NewReader(conf)) })
	if alloc > malformed.Bound(len(conf), allocPerInputByte, allocFixed) {
		t.Fatalf("allocated %d bytes for %d bytes of input (bound %d)", alloc, len(conf), malformed.Bound(len(conf), allocPerInputByte, allocFixed))
	}
	if len(conf) > MaxFileSize {
		require.ErrorIs(t, err, ErrTooLarge)
		return
	}
	require.NoError(t, err)
	require.LessOrEqual(t, len(res.Hosts), MaxHosts)
	require.LessOrEqual(t, len(res.Skipped), maxSkipped+1)
	require.LessOrEqual(t, len(res.Warnings), maxWarnings+1)
	for _, s := range res.Skipped {
		require.LessOrEqual(t, len(s.Name), maxSkipName+len("..."))
	}
	for _, h := range res.Hosts {
		require.NoError(t, validName("alias", h.Name, maxAliasLen))
		require.NoError(t, validName("HostName", h.HostName, maxHostNameLen))
		if h.User != "" {
			require.NoError(t, validName("User", h.User, maxUserLen))
		}
		require.GreaterOrEqual(t, h.Port, 0)
		require.LessOrEqual(t, h.Port, 65535)
		require.Positive(t, h.Line)
		require.False(t, isWildcard(h.Name))
	}
}

// TestFaultSSHConfigMalformed is the fault-matrix row "10,000 malformed inputs per parser" for the ssh config
// import.
func TestFaultSSHConfigMalformed(t *testing.T) {
	var seeds [][]byte
	for _, tc := range cases {
		seeds = append(seeds, []byte(tc.conf))
	}
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on malformed input %d (malformed.Inputs replays it)", cur)
		}
	})
	for i, b := range malformed.Inputs(seeds, 10000, 201) {
		cur = i
		checkParse(t, string(b))
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		s, p string
		want bool
	}{
		{"web1", "web1", true},
		{"web1", "Web1", false},
		{"web1", "web?", true},
		{"web12", "web?", false},
		{"web12", "web*", true},
		{"web", "web*", true},
		{"a.corp", "*.corp", true},
		{"corp", "*.corp", false},
		{"ab", "a*b*", true},
		{"aXbYb", "a*b", true},
		{"aXbYc", "a*b", false},
		{"", "*", true},
		{"x", "", false},
		{"é1", "?1", true},
		{strings.Repeat("a", 5000), strings.Repeat("*a", 200) + "b", false},
	} {
		require.Equal(t, tc.want, matchPattern(tc.s, tc.p), "%q ~ %q", tc.s, tc.p)
	}
}

func TestParseManyHostsIsBounded(t *testing.T) {
	var b strings.Builder
	for i := range MaxHosts + 3 {
		b.WriteString("Host h" + strconv.Itoa(i) + "\n")
	}
	res, err := Parse(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, res.Hosts, MaxHosts)
	require.Len(t, res.Skipped, 3)
	require.Equal(t, "h"+strconv.Itoa(MaxHosts), res.Skipped[0].Name)
}
