package journal

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/systemd"
)

func TestNormalize(t *testing.T) {
	f, err := Query{Unit: "nginx", Priority: "warning", Since: "2026-12-03T10:00:00+01:00", Until: "2026-12-03T12:00:00Z",
		Grep: "Connection refused", Boot: "-1", Limit: 5000}.Normalize()
	require.NoError(t, err)
	require.Equal(t, Filter{Unit: "nginx.service", Priority: 4, Since: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC),
		Until: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), Grep: "Connection refused", Boot: "-1", Limit: 5000}, f)
	require.Equal(t, []string{"-o", "json", "--all", "--no-pager", "-q", "-u", "nginx.service", "-p", "4", "--since", "@1796288400",
		"--until", "@1796299200", "--boot=-1", "-n", "50000"}, JournalctlArgs(f))

	f, err = Query{}.Normalize()
	require.NoError(t, err)
	require.Equal(t, Filter{Priority: -1, Limit: DefaultLimit}, f)

	f, err = Query{Boot: "0123ABCD-89ab-cdef-0123-456789abcdef"}.Normalize()
	require.NoError(t, err)
	require.Equal(t, "0123abcd89abcdef0123456789abcdef", f.Boot)

	f, err = Query{Boot: "current", Priority: "3"}.Normalize()
	require.NoError(t, err)
	require.Equal(t, "0", f.Boot)
	require.Equal(t, 3, f.Priority)

	for _, c := range []struct {
		q     Query
		field string
	}{
		{Query{Unit: "a b"}, "unit"},
		{Query{Unit: "@foo.service"}, "unit"},
		{Query{Unit: "x.service;id"}, "unit"},
		{Query{Priority: "loud"}, "priority"},
		{Query{Priority: "8"}, "priority"},
		{Query{Since: "yesterday"}, "since"},
		{Query{Until: "2026-12-03 10:00:00"}, "until"},
		{Query{Since: "2026-12-03T10:00:00Z", Until: "2026-12-02T10:00:00Z"}, "until"},
		{Query{Grep: "a\nb"}, "grep"},
		{Query{Grep: `say "hi"`}, "grep"},
		{Query{Grep: string(make([]byte, MaxGrep+1))}, "grep"},
		{Query{Grep: "\xff"}, "grep"},
		{Query{Boot: "1"}, "boot"},
		{Query{Boot: "--all"}, "boot"},
		{Query{Boot: "0123456789abcdef"}, "boot"},
		{Query{Limit: MaxLimit + 1}, "limit"},
		{Query{Limit: -1}, "limit"},
	} {
		_, err := c.q.Normalize()
		var ae *ArgError
		require.ErrorAs(t, err, &ae, "%+v", c.q)
		require.Equal(t, c.field, ae.Field, "%+v", c.q)
		require.True(t, errors.Is(err, ErrInvalidArgument))
		require.True(t, errors.Is(err, systemd.ErrInvalidArgument))
	}
}
