package smart

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

// isScan tells `smartctl --scan` outputs from single-drive outputs among the fixtures.
func isScan(name string) bool { return strings.Contains(name, "scan") }

type driveResult struct {
	Drive   *Drive  `json:"drive"`
	Verdict Verdict `json:"verdict"`
}

// TestGoldenShared parses every smartctl file of the shared recorded fixtures.
func TestGoldenShared(t *testing.T) {
	for _, path := range jsonFiles(t, sharedFixtures(t, "smartctl")) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			b := golden.Read(t, path)
			if isScan(name) {
				s, err := ParseScan(b, 0)
				require.NoError(t, err)
				golden.JSON(t, "shared__"+name, s)
				return
			}
			d, err := ParseDrive(b, 0)
			require.NoError(t, err)
			golden.JSON(t, "shared__"+name, driveResult{d, Assess(d, nil)})
		})
	}
}

// TestGoldenLocal parses the outputs recorded on this project's machines and the hand-derived ones.
func TestGoldenLocal(t *testing.T) {
	for _, dir := range []string{"recorded", "derived"} {
		for _, path := range jsonFiles(t, filepath.Join("testdata", dir)) {
			name := strings.TrimSuffix(filepath.Base(path), ".json")
			t.Run(dir+"/"+name, func(t *testing.T) {
				b := golden.Read(t, path)
				if isScan(name) {
					s, err := ParseScan(b, 0)
					require.NoError(t, err)
					golden.JSON(t, dir+"__"+name, s)
					return
				}
				d, err := ParseDrive(b, 0)
				require.NoError(t, err)
				golden.JSON(t, dir+"__"+name, driveResult{d, Assess(d, nil)})
			})
		}
	}
}

// TestVerdictShared pins the verdict and the state of each shared fixture, so a change of rules shows up as
// a named failure and not only as a golden diff.
func TestVerdictShared(t *testing.T) {
	dir := sharedFixtures(t, "smartctl")
	cases := []struct {
		file   string
		state  State
		health Health
		reason string // a substring of one of the reasons
	}{
		{"scrutiny__smart-fail2.json", StateOK, HealthFailing, "self-assessment FAILED"},
		{"scrutiny__smart-fail.json", StateOpenFailed, HealthUnknown, "could not open"},
		{"scrutiny__smart-ata.json", StateOK, HealthOK, ""},
		// Exit 4 (a command behind the MegaRAID controller failed) with a full, clean reading: the data stands.
		{"scrutiny__smart-megaraid0.json", StateOK, HealthOK, ""},
		{"scrutiny__smart-ata-full.json", StateOK, HealthOK, ""},
		{"scrutiny__smart-nvme2.json", StateOK, HealthOK, ""},
		{"scrutiny__smart-scsi2.json", StateOK, HealthOK, ""},
		{"netdata__smartctl.type-nvme.device-nvme0.json", StateOK, HealthOK, ""},
		{"netdata__smartctl.type-sat.device-ssd-sdc.json", StateOK, HealthOK, ""},
		{"netdata__smartctl.type-scsi.device-sda.json", StateOK, HealthOK, ""},
		// SMART says PASSED, but 12 interface CRC errors and an error log full of ICRC aborts: a cable
		// problem the user can fix, so a warning and not ok.
		{"smartctl_exporter__HGST_HUS724020ALE640_28.json", StateOK, HealthWarning, "interface CRC errors"},
		{"smartctl_exporter__nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json", StateOK, HealthFailing, "volatile memory backup device failed"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, err := ParseDrive(golden.Read(t, filepath.Join(dir, c.file)), 0)
			require.NoError(t, err)
			require.Equal(t, c.state, d.State, "state (message %q)", d.Message)
			v := Assess(d, nil)
			require.Equal(t, c.health, v.Health, "reasons: %q", v.Reasons)
			if c.reason != "" {
				require.Contains(t, strings.Join(v.Reasons, "\n"), c.reason)
			} else {
				require.Empty(t, v.Reasons)
			}
		})
	}
}

// TestStatesRecorded pins the states of the outputs recorded here and the hand-derived ones.
func TestStatesRecorded(t *testing.T) {
	cases := map[string]State{
		"recorded/vda-unknown-type.json":           StateUnsupported,
		"recorded/vda-sat.json":                    StatePermissionDenied,
		"recorded/vda-scsi.json":                   StatePermissionDenied,
		"recorded/vda-permission-denied.json":      StatePermissionDenied,
		"recorded/vda-permission-denied-auto.json": StateUnsupported,
		"derived/standby.json":                     StateStandby,
		"derived/usb-bridge.json":                  StateUSBBridge,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			d, err := ParseDrive(golden.Read(t, filepath.Join("testdata", file)), 0)
			require.NoError(t, err)
			require.Equal(t, want, d.State, "message %q", d.Message)
			v := Assess(d, nil)
			require.Equal(t, HealthUnknown, v.Health)
			require.Len(t, v.Reasons, 1)
		})
	}
	s, err := ParseScan(golden.Read(t, filepath.Join("testdata", "recorded", "scan-open-none.json")), 0)
	require.NoError(t, err)
	require.True(t, s.NoDrives())
}

func u64(v uint64) *uint64 { return &v }
func boolp(v bool) *bool   { return &v }

// TestAssessRules checks each rule of the verdict on a minimal drive.
func TestAssessRules(t *testing.T) {
	ok := func() *Drive { return &Drive{State: StateOK, SMARTPassed: boolp(true)} }
	cases := []struct {
		name   string
		cur    func() *Drive
		prev   func() *Drive
		health Health
		reason string
	}{
		{"clean", ok, nil, HealthOK, ""},
		{"assessment failed", func() *Drive { d := ok(); d.SMARTPassed = boolp(false); return d }, nil, HealthFailing, "FAILED"},
		{"exit bit 3", func() *Drive { d := ok(); d.Exit = DecodeExit(8); return d }, nil, HealthFailing, "disk is failing"},
		{"exit bit 4", func() *Drive {
			d := ok()
			d.Exit = DecodeExit(16)
			d.ATA = &ATACounters{FailedAttributes: []string{"Reallocated_Sector_Ct (5) now"}}
			return d
		}, nil, HealthFailing, "Reallocated_Sector_Ct (5)"},
		{"exit bit 5", func() *Drive { d := ok(); d.Exit = DecodeExit(32); return d }, nil, HealthWarning, "in the past"},
		{"exit bit 6", func() *Drive { d := ok(); d.Exit = DecodeExit(64); d.ErrorLogCount = u64(3); return d }, nil, HealthWarning, "(3 errors)"},
		{"exit bit 7", func() *Drive { d := ok(); d.Exit = DecodeExit(128); return d }, nil, HealthWarning, "self-test log"},
		{"pending sectors with PASSED", func() *Drive { d := ok(); d.ATA = &ATACounters{PendingSectors: u64(8)}; return d }, nil, HealthWarning, "8 pending sectors (attribute 197)"},
		{"reallocated", func() *Drive { d := ok(); d.ATA = &ATACounters{Reallocated: u64(1)}; return d }, nil, HealthWarning, "attribute 5"},
		{"reported uncorrect", func() *Drive { d := ok(); d.ATA = &ATACounters{ReportedUncorrect: u64(1)}; return d }, nil, HealthWarning, "attribute 187"},
		{"command timeout", func() *Drive { d := ok(); d.ATA = &ATACounters{CommandTimeout: u64(1)}; return d }, nil, HealthWarning, "attribute 188"},
		{"offline uncorrectable", func() *Drive { d := ok(); d.ATA = &ATACounters{OfflineUncorrectable: u64(1)}; return d }, nil, HealthWarning, "attribute 198"},
		{"zero counters", func() *Drive {
			d := ok()
			d.ATA = &ATACounters{Reallocated: u64(0), PendingSectors: u64(0), UDMACRCErrors: u64(0)}
			return d
		}, nil, HealthOK, ""},
		{"rising", func() *Drive { d := ok(); d.ATA = &ATACounters{PendingSectors: u64(9)}; return d },
			func() *Drive { d := ok(); d.ATA = &ATACounters{PendingSectors: u64(8)}; return d }, HealthWarning, "rose from 8 to 9"},
		{"error log rising", func() *Drive { d := ok(); d.ATA = &ATACounters{}; d.ErrorLogCount = u64(5); return d },
			func() *Drive { d := ok(); d.ATA = &ATACounters{}; d.ErrorLogCount = u64(4); return d }, HealthWarning, "error log entries rose from 4 to 5"},
		{"nvme error information log rising", func() *Drive { d := ok(); d.NVMe = &NVMeHealth{}; d.ErrorLogCount = u64(8383); return d },
			func() *Drive { d := ok(); d.NVMe = &NVMeHealth{}; d.ErrorLogCount = u64(8382); return d }, HealthOK, ""},
		{"nvme critical warning", func() *Drive { d := ok(); d.NVMe = &NVMeHealth{CriticalWarning: u64(4)}; return d }, nil, HealthFailing, "reliability degraded"},
		{"nvme spare below threshold", func() *Drive {
			d := ok()
			d.NVMe = &NVMeHealth{CriticalWarning: u64(0), AvailableSpare: u64(5), AvailableSpareThreshold: u64(10)}
			return d
		}, nil, HealthFailing, "below the drive's threshold of 10%"},
		{"nvme media errors", func() *Drive { d := ok(); d.NVMe = &NVMeHealth{MediaErrors: u64(2)}; return d }, nil, HealthWarning, "2 media and data integrity errors"},
		{"nvme wear 90", func() *Drive { d := ok(); d.NVMe = &NVMeHealth{PercentageUsed: u64(90)}; return d }, nil, HealthWarning, "90% of rated life"},
		{"nvme wear 89", func() *Drive { d := ok(); d.NVMe = &NVMeHealth{PercentageUsed: u64(89)}; return d }, nil, HealthOK, ""},
		{"scsi grown defects", func() *Drive { d := ok(); d.SCSI = &SCSICounters{GrownDefects: u64(3)}; return d }, nil, HealthWarning, "3 grown defects"},
		{"scsi uncorrected", func() *Drive { d := ok(); d.SCSI = &SCSICounters{UncorrectedErrors: u64(1)}; return d }, nil, HealthWarning, "uncorrected"},
		{"standby", func() *Drive { return &Drive{State: StateStandby} }, nil, HealthUnknown, "standby"},
		{"nil", func() *Drive { return nil }, nil, HealthUnknown, "no SMART reading"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var prev *Drive
			if c.prev != nil {
				prev = c.prev()
			}
			v := Assess(c.cur(), prev)
			require.Equal(t, c.health, v.Health, "reasons %q", v.Reasons)
			if c.reason == "" {
				require.Empty(t, v.Reasons)
			} else {
				require.Contains(t, strings.Join(v.Reasons, "\n"), c.reason)
			}
		})
	}
}

func TestDecodeExit(t *testing.T) {
	require.Equal(t, ExitStatus{Code: 216, DiskFailing: true, PrefailBelowThreshold: true, ErrorLog: true, SelfTestErrors: true}, DecodeExit(216))
	require.Equal(t, ExitStatus{Code: 2, DeviceOpen: true}, DecodeExit(2))
	require.Equal(t, ExitStatus{Code: 1, CommandLine: true}, DecodeExit(1))
	require.Equal(t, ExitStatus{Code: 4, CommandFailed: true}, DecodeExit(4))
	require.Equal(t, ExitStatus{Code: 32, PastBelowThreshold: true}, DecodeExit(32))
	require.Equal(t, ExitStatus{Code: 300}, DecodeExit(300))
	require.Equal(t, ExitStatus{Code: -1}, DecodeExit(-1))
}

func TestParseDriveNotJSON(t *testing.T) {
	_, err := ParseDrive([]byte("smartctl: unrecognized option '--json'\n"), 1)
	require.Error(t, err)
	_, err = ParseScan([]byte("sh: smartctl: not found"), 127)
	require.Error(t, err)
}

// TestParseDriveWrongTypes checks that a value of the wrong type loses that field, not the drive.
func TestParseDriveWrongTypes(t *testing.T) {
	d, err := ParseDrive([]byte(`{"device":{"name":"/dev/sda","type":"sat","protocol":"ATA"},"temperature":{"current":"hot"},
		"power_on_time":{"hours":-5},"smart_status":{"passed":true},"serial_number":"X1"}`), 0)
	require.NoError(t, err)
	require.Equal(t, StateOK, d.State)
	require.Equal(t, "X1", d.Serial)
	require.Nil(t, d.TemperatureC)
	require.Nil(t, d.PowerOnHours)
}

// TestSudoRefused: sudo -n without a matching rule is the "permission denied" state, not a parse failure.
func TestSudoRefused(t *testing.T) {
	d, err := ParseDrive([]byte("sudo: a password is required\n"), 1)
	require.NoError(t, err)
	require.Equal(t, StatePermissionDenied, d.State)
	require.Equal(t, "sudo: a password is required", d.Message)
	require.Equal(t, HealthUnknown, Assess(d, nil).Health)
	_, err = ParseScan([]byte("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n"), 1)
	require.ErrorIs(t, err, ErrPermissionDenied)
}
