// Package vocab is the vocabulary that storage, activities, workflows and the API share: the states of
// operations, steps, schedule runs, alerts and deliveries, device statuses, token scopes and the topics of live
// updates. It holds constants only, so workflow code can use it without depending on the storage package.
// The values are stored in PostgreSQL and shown by the API: changing one is a migration and an API change.
package vocab

// Operation states.
const (
	OpPending   = "pending"
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
	OpCancelled = "cancelled"
)

// Step states of an operation.
const (
	StepRunning   = "running"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
)

// Schedule run states, and the states of a run's per-device outcomes (RunSkipped: the device was not reached
// because the schedule's action did not apply to it).
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunSkipped   = "skipped"
)

// Alert states.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Delivery states of a notice on a notification channel.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Device statuses.
const (
	StatusUnknown = "unknown"
	StatusOnline  = "online"
	StatusOffline = "offline"
	StatusBlocked = "blocked"
)

// Token scopes, from least to most privileged.
const (
	ScopeRead    = "read"
	ScopeOperate = "operate"
	ScopeAdmin   = "admin"
)

// Topics of live updates without a device.
const (
	TopicOperations = "operations"
	TopicEvents     = "events"
	// TopicTokenRevoked is heard by every API process when a token is revoked, so each closes that token's open
	// WebSocket connections and MCP streams at once. Its data is {"id": "<token id>"}; it is not a topic clients
	// can subscribe to.
	TopicTokenRevoked = "token.revoked"
	// TopicSessionRevoked is heard by every API process when a dashboard session signs out, so each closes the
	// WebSocket connections that session opened (other tabs, other replicas). Its data is {"id": "<session id>"};
	// it is not a topic clients can subscribe to.
	TopicSessionRevoked = "session.revoked"
)

// TopicDeviceMetrics is the topic of a device's key figures after each poll.
func TopicDeviceMetrics(id string) string { return "device." + id + ".metrics" }

// TopicDeviceStatus is the topic of a device's status changes.
func TopicDeviceStatus(id string) string { return "device." + id + ".status" }

// TopicDeviceContainers is the topic of changes to a device's containers.
func TopicDeviceContainers(id string) string { return "device." + id + ".containers" }

// TopicDeviceLogs is the topic of a live tail of a device's journald (#12). A filtered tail adds its filters as a
// query: device.<id>.logs?priority=3&unit=nginx.service (keys sorted, values normalised), so watchers with the same
// filters share one tail.
func TopicDeviceLogs(id string) string { return "device." + id + ".logs" }

// TopicContainerLogs is the topic of a live tail of a container's stdout and stderr (#12).
func TopicContainerLogs(id, ref string) string {
	return "device." + id + ".containers." + ref + ".logs"
}

// TopicDeviceServices is the topic of changes to a device's failed and watched systemd units.
func TopicDeviceServices(id string) string { return "device." + id + ".services" }

// TopicDeviceStorage is the topic of changes to a device's drives and ZFS pools (#11).
func TopicDeviceStorage(id string) string { return "device." + id + ".storage" }
