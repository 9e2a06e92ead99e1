// Package activities does all of Infrastructor's I/O on behalf of workflows: SSH to devices, SQL, HTTP.
// Activities take IDs and small inputs, write bulk data to PostgreSQL themselves, and return compact summaries,
// so workflow histories stay small and the Temporal UI shows one readable line per poll.
package activities

import "time"

// Application error types, set on non-retryable errors so workflows can branch on them with errors.As and
// Temporal.ApplicationError.Type().
const (
	ErrTypeDeviceNotFound = "DeviceNotFound"
	ErrTypeHostKeyUnknown = "HostKeyUnknown"
	ErrTypeHostKeyChanged = "HostKeyChanged"
	ErrTypeAuthFailed     = "AuthFailed"
	ErrTypeInvalidInput   = "InvalidInput"
	// ErrTypeContainerNotFound means the device has no such container.
	ErrTypeContainerNotFound = "ContainerNotFound"
	// ErrTypeCommandFailed means a docker command ran and failed; its message says why.
	ErrTypeCommandFailed = "CommandFailed"
)

// PollDeviceInput asks for one poll of a device. PollKey identifies the poll across activity retries: a retry
// whose samples were already committed under the same key writes nothing again.
type PollDeviceInput struct {
	DeviceID string
	PollKey  string
	// EvaluateAlerts asks the poll to evaluate the device's alert rules in its own transaction, from its own
	// samples (#17), instead of a separate EvaluateAlerts after it.
	EvaluateAlerts bool `json:",omitempty"`
}

// PollDeviceResult is the compact outcome of one poll, shown in the Temporal UI.
type PollDeviceResult struct {
	Summary   string
	Collected time.Time
	Duplicate bool `json:",omitempty"`
	// AlertsEvaluated is set when the poll evaluated the alert rules (EvaluateAlerts); Notices are the
	// notifications the workflow must start. A poll asked to evaluate that returns without AlertsEvaluated could
	// not, and the workflow evaluates separately.
	AlertsEvaluated bool     `json:",omitempty"`
	Notices         []Notice `json:",omitempty"`
	// InventoryInterval is the device's slow-collection cadence, read with the device for the poll loop.
	InventoryInterval time.Duration `json:",omitempty"`
}

// MarkOfflineInput sets a device offline after consecutive failed polls.
type MarkOfflineInput struct {
	DeviceID string
	Failures int
	Reason   string
}

// FetchLogsInput asks for a container's logs. The lines are written to log_fetches under FetchID for the API to
// read; only a count comes back, so log contents never enter workflow history.
type FetchLogsInput struct {
	FetchID  string
	DeviceID string
	Ref      string
	Tail     string
	Since    string
	Until    string
}

// FetchLogsResult tells how much was fetched.
type FetchLogsResult struct {
	Lines     int
	Truncated bool
}

// WorkflowID names the ContainerOperation workflow of the operation: the operation slot of one container, or of
// one compose project, on a device. The API and scheduled runs both use it, so two operations on the same
// container (a scheduled restart and a manual one) never run at once. The container must be given by its name
// (never sometimes by its ID) so that two requests for the same container collide.
func (in ContainerOpInput) WorkflowID() string {
	if in.IsCompose() {
		return "container-op/" + in.DeviceID + "/compose:" + in.Project
	}
	return "container-op/" + in.DeviceID + "/" + in.Ref
}
