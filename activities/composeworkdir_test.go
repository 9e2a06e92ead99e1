package activities

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
)

func TestCheckWorkdirLabel(t *testing.T) {
	tests := []struct {
		name, label, confirmed string
		want                   string
		unconfirmed, invalid   bool
	}{
		{name: "nothing known", want: ""},
		{name: "confirmed, label agrees", label: "/srv/demo", confirmed: "/srv/demo", want: "/srv/demo"},
		{name: "confirmed, project down", confirmed: "/srv/demo", want: "/srv/demo"},
		{name: "label never confirmed", label: "/srv/demo", unconfirmed: true},
		{name: "label changed", label: "/srv/other", confirmed: "/srv/demo", unconfirmed: true},
		{name: "hostile label", label: `/srv/x\'; touch /tmp/pwned; #`, confirmed: "/srv/demo", invalid: true},
		{name: "relative label", label: "srv", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkWorkdirLabel("demo", tt.label, tt.confirmed)
			switch {
			case tt.unconfirmed:
				var ue *UnconfirmedWorkdirError
				require.ErrorAs(t, err, &ue)
				require.Equal(t, tt.label, ue.LabelDir)
				require.Equal(t, tt.confirmed, ue.ConfirmedDir)
				require.Contains(t, err.Error(), tt.label)
			case tt.invalid:
				var ae *docker.ArgError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, "workdir", ae.Arg)
			default:
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
			}
		})
	}
}
