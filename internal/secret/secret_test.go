package secret

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpen(t *testing.T) {
	b, err := New(key(1))
	require.NoError(t, err)
	sealed, err := b.Seal("app-token-123")
	require.NoError(t, err)
	require.True(t, IsSealed(sealed))
	require.NotContains(t, sealed, "app-token-123")
	again, err := b.Seal("app-token-123")
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "a fresh nonce per value")
	plain, err := b.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "app-token-123", plain)

	empty, err := b.Seal("")
	require.NoError(t, err)
	require.Empty(t, empty)

	legacy, err := b.Open("plain-token")
	require.NoError(t, err)
	require.Equal(t, "plain-token", legacy, "plaintext from before encryption still opens")

	other, err := New(key(2))
	require.NoError(t, err)
	_, err = other.Open(sealed)
	require.ErrorIs(t, err, ErrWrongKey)
	require.NotContains(t, err.Error(), "app-token")
	_, err = b.Open(sealed[:len(sealed)-4])
	require.ErrorIs(t, err, ErrWrongKey)
	_, err = b.Open(Prefix + "!!")
	require.ErrorIs(t, err, ErrWrongKey)

	var none *Box
	_, err = none.Open(sealed)
	require.ErrorIs(t, err, ErrNoKey)
	_, err = none.Seal("x")
	require.ErrorIs(t, err, ErrNoKey)
	_, err = New(key(1)[:16])
	require.Error(t, err)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	b1, err := Load("", dir)
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	sealed, err := b1.Seal("s")
	require.NoError(t, err)

	b2, err := Load("", dir)
	require.NoError(t, err, "the key file is reused on the next start")
	plain, err := b2.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "s", plain)

	raw, err := os.ReadFile(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	b3, err := Load(strings.TrimSpace(string(raw)), t.TempDir())
	require.NoError(t, err, "the key file's content works as INFRA_SECRET_KEY")
	plain, err = b3.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "s", plain)

	_, err = Load("not-base64!", dir)
	require.ErrorContains(t, err, "INFRA_SECRET_KEY")
	_, err = Load(base64.StdEncoding.EncodeToString(key(1)[:20]), dir)
	require.ErrorContains(t, err, "32 bytes")
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), []byte("short"), 0o600))
	_, err = Load("", dir)
	require.ErrorContains(t, err, KeyFile)
}
