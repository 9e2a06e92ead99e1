// Package sshconfig imports devices from an OpenSSH client configuration file (~/.ssh/config).
//
// It returns the concrete hosts a user defined, with the values OpenSSH's ssh(1) would use for them: keywords are
// case-insensitive, "Key value" and "Key=value" both work, values may be quoted, and for every alias the first
// value obtained wins across all Host blocks that match it, in file order (so a "Host *" block placed before a
// host's own block overrides it, and one placed after only fills fields still unset), exactly as ssh does.
//
// What needs runtime evaluation or other files is reported instead of guessed: Match blocks and Include lines are
// listed in Result.Skipped and not applied. Wildcard-only Host blocks produce no device of their own, but their
// values do apply to the concrete hosts they match.
//
// The package is hand-written rather than built on an existing parser because import needs things those parsers
// do not expose (line numbers per alias, the list of skipped blocks with reasons) and, until recently, the
// best-known Go library refused any file containing a Match block, which distributions ship by default.
package sshconfig

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that keep a hostile or broken file from using unbounded memory.
const (
	// MaxFileSize is the largest configuration file Parse reads.
	MaxFileSize = 1 << 20
	// maxLine bounds one line; no real configuration line comes near it, so longer ones are reported and
	// ignored rather than parsed.
	maxLine = 16 << 10
	// maxHostNameLen is the DNS limit for a full name.
	maxHostNameLen = 253
	// maxAliasLen bounds an alias; it becomes a device name.
	maxAliasLen = 255
	// maxUserLen is generous: Linux allows 32, some directories more.
	maxUserLen = 64
	// maxIdentityFiles mirrors ssh's SSH_MAX_IDENTITY_FILES.
	maxIdentityFiles = 100
	// MaxHosts and maxBlocks bound the work of resolving every alias against every block (hosts x blocks).
	// MaxHosts is the most hosts one import returns.
	MaxHosts  = 2000
	maxBlocks = 10000
	// maxSkipped and maxWarnings bound Result.Skipped and Result.Warnings; what is left out is counted in one
	// last entry. A file of a million bad lines must not become a million warnings (#15).
	maxSkipped  = 1000
	maxWarnings = 1000
	// maxSkipName bounds Skip.Name, which quotes Host patterns, Match criteria or Include arguments.
	maxSkipName = 1024
	// maxMatchSteps bounds the pattern matching of one Parse (aliases x patterns x their lengths). Real files
	// use a tiny fraction; hosts left when it runs out are skipped with a reason.
	maxMatchSteps = 200_000_000
)

// ErrTooLarge is returned when the input exceeds MaxFileSize.
var ErrTooLarge = errors.New("ssh config larger than 1 MiB")

// Host is one concrete host alias with the values ssh would use for it.
type Host struct {
	// Name is the alias as written after "Host".
	Name string
	// HostName is the address to connect to: the HostName value with %h expanded, or the alias itself.
	// Like ssh, the alias is lower-cased where it stands in for the host name.
	HostName string
	// User is the login name, empty when the file sets none (ssh would use the local user).
	User string
	// Port is the TCP port, 0 when the file sets none (ssh would use 22).
	Port int
	// ProxyJump is the raw ProxyJump value ([user@]host[:port][,...]); empty when unset or "none".
	ProxyJump string
	// IdentityFiles lists every IdentityFile that applies, in the order ssh would try them (values accumulate
	// across matching blocks instead of first-wins). Paths are raw: "~" and %-tokens are not expanded.
	// "IdentityFile none" entries are dropped: they name no key.
	IdentityFiles []string
	// Line is the 1-based line of the Host line that names the alias first.
	Line int
}

// Skip is a part of the file that did not become a Host, with the reason.
type Skip struct {
	// Name is the alias, the Host patterns, the Match criteria or the Include argument concerned.
	Name string
	// Line is the 1-based line it is defined on.
	Line int
	// Reason says why it was not imported.
	Reason string
}

// Warning is something imported with a caveat, or a line that was ignored.
type Warning struct {
	// Line is the 1-based line concerned.
	Line int
	// Message describes the problem.
	Message string
}

// Result is what Parse found.
type Result struct {
	// Hosts are the importable hosts in the order their aliases first appear.
	Hosts []Host
	// Skipped lists aliases, blocks and lines that were not imported.
	Skipped []Skip
	// Warnings lists lines that were ignored or values that could not be honoured.
	Warnings []Warning
}

// directive is one meaningful line of the file.
type directive struct {
	line    int
	keyword string // lower-cased
	args    []string
}

// block is a Host block (or the implicit block before the first Host line, which applies to every host).
type block struct {
	line     int
	patterns []string // nil for the implicit leading block, which matches everything
	implicit bool
	match    bool // a Match block: never applied
	dirs     []directive
}

// Parse reads an ssh_config file and returns its concrete hosts. It fails only when the input cannot be read or
// is larger than MaxFileSize; everything wrong inside the file is reported in the Result.
func Parse(r io.Reader) (*Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	st := &parseState{Result: &Result{}}
	blocks := splitBlocks(string(data), st)
	collectHosts(blocks, st)
	if st.droppedSkips > 0 {
		st.Skipped = append(st.Skipped, Skip{Name: "(more)", Reason: fmt.Sprintf("%d more entries not listed", st.droppedSkips)})
	}
	if st.droppedWarnings > 0 {
		st.Warnings = append(st.Warnings, Warning{Message: fmt.Sprintf("%d more warnings not listed", st.droppedWarnings)})
	}
	return st.Result, nil
}

// parseState is the Result under construction and the limits' accounting.
type parseState struct {
	*Result
	droppedSkips, droppedWarnings int
	// steps counts pattern matching work against maxMatchSteps.
	steps int
}

// warn adds a warning, or counts it once maxWarnings are listed. The message is built only when it is kept:
// formatting a million dropped warnings would cost what the limit saves.
func (st *parseState) warn(line int, msg func() string) {
	if len(st.Warnings) >= maxWarnings {
		st.droppedWarnings++
		return
	}
	st.Warnings = append(st.Warnings, Warning{Line: line, Message: msg()})
}

// skip adds a Skip, or counts it once maxSkipped are listed; name and reason are built only when it is kept.
func (st *parseState) skip(line int, name, reason func() string) {
	if len(st.Skipped) >= maxSkipped {
		st.droppedSkips++
		return
	}
	n := name()
	if len(n) > maxSkipName {
		n = clipString(n, maxSkipName) + "..."
	}
	st.Skipped = append(st.Skipped, Skip{Name: n, Line: line, Reason: reason()})
}

func fixed(s string) func() string { return func() string { return s } }

// clipString cuts s to at most max bytes without splitting a UTF-8 sequence.
func clipString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// splitBlocks tokenises the file into blocks, reporting Include lines, Match blocks and malformed lines.
func splitBlocks(data string, res *parseState) []*block {
	cur := &block{line: 0, implicit: true}
	blocks := []*block{cur}
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize+1)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		if len(text) > maxLine {
			res.warn(n, fixed("line too long, ignored"))
			continue
		}
		d, ok, err := parseLine(text)
		if err != nil {
			res.warn(n, func() string { return err.Error() + ", line ignored" })
			continue
		}
		if !ok {
			continue
		}
		d.line = n
		if (d.keyword == "host" || d.keyword == "match") && len(blocks) >= maxBlocks {
			res.warn(n, func() string { return fmt.Sprintf("more than %d blocks; the rest of the file is ignored", maxBlocks) })
			break
		}
		switch d.keyword {
		case "host":
			cur = &block{line: n, patterns: d.args}
			blocks = append(blocks, cur)
		case "match":
			cur = &block{line: n, match: true}
			blocks = append(blocks, cur)
			res.skip(n, func() string { return "Match " + strings.Join(d.args, " ") },
				fixed("Match blocks need evaluation when connecting; their settings are not applied"))
		case "include":
			res.skip(n, func() string { return strings.Join(d.args, " ") },
				fixed("Include is not followed; import the included file separately"))
		default:
			cur.dirs = append(cur.dirs, d)
		}
	}
	return blocks
}

// parseLine splits one line like OpenSSH's process_config_line: the keyword ends at whitespace or a single '=',
// the rest is split by argv_split (quotes, backslash escapes, '#' at the start of a word ends the line).
// ok is false for blank and comment lines.
func parseLine(line string) (d directive, ok bool, err error) {
	s := strings.TrimLeft(line, " \t\r\n\f")
	s = strings.TrimRight(s, " \t\r\n\f")
	if s == "" || s[0] == '#' {
		return d, false, nil
	}
	end := strings.IndexAny(s, " \t\r\n=")
	if end < 0 {
		return d, false, &lineError{keyword: s}
	}
	keyword := s[:end]
	rest := s[end:]
	// Skip whitespace, at most one '=', and whitespace again.
	rest = strings.TrimLeft(rest, " \t\r\n")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t\r\n")
	}
	if keyword == "" {
		return d, false, errMissingKeyword
	}
	if rest == "" {
		return d, false, &lineError{keyword: keyword}
	}
	args, err := splitArgs(rest)
	if err != nil {
		return d, false, &lineError{keyword: keyword, err: err}
	}
	if len(args) == 0 {
		return d, false, &lineError{keyword: keyword}
	}
	return directive{keyword: strings.ToLower(keyword), args: args}, true, nil
}

// lineError is a malformed line. Its message is built only when it is read: a file may hold a million bad
// lines, of which only maxWarnings are reported.
type lineError struct {
	keyword string
	err     error // nil: no argument after the keyword
}

func (e *lineError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("no argument after keyword %q", clipString(e.keyword, 64))
	}
	return fmt.Sprintf("keyword %q: %v", clipString(e.keyword, 64), e.err)
}

func (e *lineError) Unwrap() error { return e.err }

var errMissingKeyword = errors.New("missing keyword")

// errUnbalancedQuotes mirrors ssh's "invalid quotes" error.
var errUnbalancedQuotes = errors.New("invalid quotes")

// splitArgs ports OpenSSH's argv_split with terminate_on_comment set.
func splitArgs(s string) ([]string, error) {
	var args []string
	i := 0
	for i < len(s) {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		if s[i] == '#' {
			break
		}
		var b strings.Builder
		var quote byte
	scan:
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
				i++
				b.WriteByte(s[i])
			case quote == 0 && (c == ' ' || c == '\t'):
				break scan
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				b.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errUnbalancedQuotes
		}
		args = append(args, b.String())
	}
	return args, nil
}

// isWildcard reports whether a Host pattern can match more than one name.
func isWildcard(p string) bool {
	return strings.ContainsAny(p, "*?") || strings.HasPrefix(p, "!")
}

// matchPattern implements OpenSSH's match_pattern: '*' matches any run, '?' one character, case-sensitive.
// It is the iterative wildcard algorithm with one backtrack point, so it runs in O(len(s)*len(p)) even for
// patterns like "*a*a*a*a*b" that make a naive recursive matcher exponential.
func matchPattern(s, p string) bool {
	steps := 0
	return matchPatternSteps(s, p, &steps)
}

// matchPatternSteps is matchPattern counting its work in *steps; it gives up (false) once *steps exceeds
// maxMatchSteps.
func matchPatternSteps(s, p string, steps *int) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if *steps++; *steps > maxMatchSteps {
			return false
		}
		switch {
		case pi < len(p) && p[pi] == '?':
			_, size := utf8.DecodeRuneInString(s[si:])
			si += size
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			si++
			pi++
		case star >= 0:
			_, size := utf8.DecodeRuneInString(s[mark:])
			mark += size
			si = mark
			pi = star + 1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matches reports whether a Host block applies to alias: one positive pattern matches and no negated one does.
func (b *block) matches(alias string, steps *int) bool {
	if b.match {
		return false
	}
	if b.implicit {
		return true
	}
	hit := false
	for _, p := range b.patterns {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if matchPatternSteps(alias, neg, steps) {
				return false
			}
			continue
		}
		if matchPatternSteps(alias, p, steps) {
			hit = true
		}
	}
	return hit
}

// collectHosts walks Host blocks for concrete aliases and resolves each alias against all blocks.
func collectHosts(blocks []*block, res *parseState) {
	seen := map[string]int{}
	for _, b := range blocks {
		if b.match || b.implicit {
			continue
		}
		concrete := 0
		for _, p := range b.patterns {
			if isWildcard(p) {
				continue
			}
			concrete++
			if first, dup := seen[p]; dup {
				res.warn(b.line, func() string {
					return fmt.Sprintf("host %q already defined on line %d; the first definition is imported", p, first)
				})
				continue
			}
			// Past the hosts and skips that can be listed, aliases are no longer remembered: a later
			// duplicate then reads as one more host over the limit, and the set stays bounded.
			if len(seen) < MaxHosts+maxSkipped {
				seen[p] = b.line
			}
			if len(res.Hosts) >= MaxHosts {
				res.skip(b.line, fixed(p), func() string { return fmt.Sprintf("more than %d hosts in one file", MaxHosts) })
				continue
			}
			if res.steps > maxMatchSteps {
				res.skip(b.line, fixed(p), fixed("the file's Host patterns take too long to match; simplify them"))
				continue
			}
			if !b.matches(p, &res.steps) {
				res.skip(b.line, fixed(p), fixed("excluded by a negated pattern on its own Host line"))
				continue
			}
			h, reason := resolve(p, b.line, blocks, res)
			if reason != "" {
				res.skip(b.line, fixed(p), fixed(reason))
				continue
			}
			res.Hosts = append(res.Hosts, h)
		}
		if concrete == 0 {
			res.skip(b.line, func() string { return "Host " + strings.Join(b.patterns, " ") },
				fixed("wildcard or negated patterns only; its settings apply to the hosts it matches"))
		}
	}
}

// resolve computes the settings of alias with first-obtained-value-wins over the blocks that match it. A
// non-empty reason means the alias cannot be imported.
func resolve(alias string, line int, blocks []*block, res *parseState) (Host, string) {
	h := Host{Name: alias, Line: line}
	if err := validName("alias", alias, maxAliasLen); err != nil {
		return h, err.Error()
	}
	var hostName, user, proxyJump, proxyCommand *directive
	var port *directive
	for _, b := range blocks {
		if !b.matches(alias, &res.steps) {
			continue
		}
		for i := range b.dirs {
			d := &b.dirs[i]
			switch d.keyword {
			case "hostname":
				if hostName == nil {
					hostName = d
				}
			case "user":
				if user == nil {
					user = d
				}
			case "port":
				if port == nil {
					port = d
				}
			case "proxyjump":
				// ProxyJump and ProxyCommand share one slot in ssh: whichever comes first wins.
				if proxyJump == nil && proxyCommand == nil {
					proxyJump = d
				}
			case "proxycommand":
				if proxyJump == nil && proxyCommand == nil {
					proxyCommand = d
				}
			case "identityfile":
				if strings.EqualFold(d.args[0], "none") {
					continue
				}
				if len(h.IdentityFiles) < maxIdentityFiles {
					h.IdentityFiles = append(h.IdentityFiles, d.args[0])
				}
			}
		}
	}
	h.HostName = strings.ToLower(alias)
	if hostName != nil {
		hn, err := expandHostName(hostName.args[0], alias)
		if err != nil {
			return h, fmt.Sprintf("line %d: HostName: %v", hostName.line, err)
		}
		h.HostName = hn
	}
	if err := validName("HostName", h.HostName, maxHostNameLen); err != nil {
		return h, fmt.Sprintf("%v (line %d)", err, lineOf(hostName, line))
	}
	if user != nil {
		h.User = user.args[0]
		if strings.Contains(h.User, "%") {
			return h, fmt.Sprintf("line %d: User %q uses %%-tokens that are only known when connecting", user.line, h.User)
		}
		if err := validName("User", h.User, maxUserLen); err != nil {
			return h, fmt.Sprintf("line %d: %v", user.line, err)
		}
	}
	if port != nil {
		p, err := strconv.Atoi(port.args[0])
		if err != nil || p < 1 || p > 65535 {
			return h, fmt.Sprintf("line %d: invalid Port %q", port.line, port.args[0])
		}
		h.Port = p
	}
	if proxyJump != nil && !strings.EqualFold(proxyJump.args[0], "none") {
		h.ProxyJump = proxyJump.args[0]
		if err := validName("ProxyJump", h.ProxyJump, maxHostNameLen*4); err != nil {
			return h, fmt.Sprintf("line %d: %v", proxyJump.line, err)
		}
	}
	if proxyCommand != nil && !strings.EqualFold(proxyCommand.args[0], "none") {
		res.warn(proxyCommand.line, func() string {
			return fmt.Sprintf("host %q uses ProxyCommand, which is not supported; connecting directly", alias)
		})
	}
	return h, ""
}

func lineOf(d *directive, def int) int {
	if d == nil {
		return def
	}
	return d.line
}

// expandHostName expands the two tokens ssh allows in HostName: %h (the alias, lower-cased) and %%.
func expandHostName(v, alias string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", errors.New("trailing %")
		}
		i++
		switch v[i] {
		case 'h':
			b.WriteString(strings.ToLower(alias))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("unsupported token %%%c", v[i])
		}
	}
	return b.String(), nil
}

// validName rejects values that would be unsafe or meaningless as a host, user or device name.
func validName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > max:
		return fmt.Errorf("%s longer than %d bytes", what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%s %q starts with '-'", what, s)
	}
	for _, r := range s {
		if unicode.IsSpace(r) {
			return fmt.Errorf("%s %q contains whitespace", what, s)
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%s %q contains a control character", what, s)
		}
	}
	return nil
}
