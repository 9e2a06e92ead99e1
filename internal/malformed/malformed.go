// Package malformed generates broken variants of recorded device output for the parsers' fault tests (#15):
// truncations, repeated lines, huge and negative numbers, NUL bytes, giant fields, shuffled and deleted lines.
// The same seed gives the same inputs, so a failure can be replayed from the test's output alone.
package malformed

import (
	"bytes"
	"iter"
	"math/rand/v2"
	"strings"
)

// MaxLen is the largest input Inputs returns: well above what a real section is, so the parsers' entry and byte
// limits are reached, and small enough for thousands of inputs to run in a unit test.
const MaxLen = 1 << 20

// Inputs yields n inputs, numbered from 0, derived from seeds (recorded outputs) by one to three random
// mutations each, using a generator seeded with seed. One input at a time is kept, so n can be large. It panics
// if seeds is empty.
func Inputs(seeds [][]byte, n int, seed uint64) iter.Seq2[int, []byte] {
	if len(seeds) == 0 {
		panic("malformed.Inputs: no seeds")
	}
	return func(yield func(int, []byte) bool) {
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		for i := range n {
			b := bytes.Clone(seeds[r.IntN(len(seeds))])
			for range 1 + r.IntN(3) {
				b = mutate(r, b)
				if len(b) > MaxLen {
					b = b[:MaxLen]
				}
			}
			if !yield(i, b) {
				return
			}
		}
	}
}

// bigSize returns a size for a generated run: mostly up to 8 KB, one time in 64 up to 512 KB, so some inputs
// reach the parsers' limits without making every case slow.
func bigSize(r *rand.Rand) int {
	if r.IntN(64) == 0 {
		return 1 << (14 + r.IntN(6))
	}
	return 1 << (4 + r.IntN(10))
}

// hugeValues replace numbers and fields: overflowing, negative, non-finite, empty and hostile ones.
var hugeValues = []string{
	"18446744073709551615", "18446744073709551616", "99999999999999999999999999999999", "-1",
	"-9223372036854775808", "1e308", "NaN", "Inf", "-0", "0x10", "", " ", "--", "0-65535", "1-65535/tcp",
	"\x00", "\xff\xfe", "%", "@@", "=", ":", ",", "\t", "\"", "{", "[", "null",
}

func mutate(r *rand.Rand, b []byte) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	switch r.IntN(12) {
	case 0: // truncate
		if len(b) > 0 {
			return b[:r.IntN(len(b))]
		}
	case 1: // repeat one line many times
		l := lines[r.IntN(len(lines))]
		times := 1 + bigSize(r)/max(len(l), 1)
		return splice(b, r.IntN(len(b)+1), bytes.Repeat(l, times))
	case 2: // replace a number with a hostile value
		return replaceNumber(r, b, hugeValues[r.IntN(len(hugeValues))])
	case 3: // NULs
		pos := r.IntN(len(b) + 1)
		return splice(b, pos, bytes.Repeat([]byte{0}, 1+r.IntN(16)))
	case 4: // giant field of one character, including separators
		ch := []byte("A,: \t=/-9\"\\")[r.IntN(11)]
		return splice(b, r.IntN(len(b)+1), bytes.Repeat([]byte{ch}, bigSize(r)))
	case 5: // delete a line
		i := r.IntN(len(lines))
		return bytes.Join(append(lines[:i:i], lines[i+1:]...), nil)
	case 6: // swap two lines
		i, j := r.IntN(len(lines)), r.IntN(len(lines))
		lines[i], lines[j] = lines[j], lines[i]
		return bytes.Join(lines, nil)
	case 7: // flip bytes
		for range 1 + r.IntN(8) {
			if len(b) == 0 {
				break
			}
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
		return b
	case 8: // the whole input twice (duplicate sections, markers, headers)
		return append(b, b...)
	case 9: // CRLF line ends and trailing spaces
		return bytes.ReplaceAll(b, []byte("\n"), []byte(" \r\n"))
	case 10: // a long list: many separators with short items
		sep := []string{",", " ", "\t", ", ", "\n", ":"}[r.IntN(6)]
		item := []string{"a", "1", "a=", "0-65535/tcp", "x=y", "eth0:"}[r.IntN(6)]
		return splice(b, r.IntN(len(b)+1), []byte(strings.Repeat(item+sep, 1+bigSize(r)/len(item+sep))))
	case 11: // cut a line in half
		i := r.IntN(len(lines))
		if len(lines[i]) > 1 {
			lines[i] = lines[i][:r.IntN(len(lines[i]))]
		}
		return bytes.Join(lines, nil)
	}
	return b
}

func splice(b []byte, pos int, ins []byte) []byte {
	out := make([]byte, 0, len(b)+len(ins))
	out = append(out, b[:pos]...)
	out = append(out, ins...)
	return append(out, b[pos:]...)
}

// replaceNumber replaces a random run of digits in b with v, or inserts v when b has no digits.
func replaceNumber(r *rand.Rand, b []byte, v string) []byte {
	var starts []int
	for i := 0; i < len(b); i++ {
		if b[i] >= '0' && b[i] <= '9' && (i == 0 || b[i-1] < '0' || b[i-1] > '9') {
			starts = append(starts, i)
		}
	}
	if len(starts) == 0 {
		return splice(b, r.IntN(len(b)+1), []byte(v))
	}
	s := starts[r.IntN(len(starts))]
	e := s
	for e < len(b) && b[e] >= '0' && b[e] <= '9' {
		e++
	}
	out := make([]byte, 0, len(b)-(e-s)+len(v))
	out = append(out, b[:s]...)
	out = append(out, v...)
	return append(out, b[e:]...)
}
