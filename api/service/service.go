package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/workflows"
)

// Workflows is the API's client of every workflow (workflows.Client in production): it starts, stops and steers
// the durable poll loop of a device, fetches logs, runs container operations, manages user schedules and sends
// test notices. StartPolling is idempotent and returns the workflow ID; StopPolling of a device that is not
// polled is not an error; the other poll-loop calls return workflows.ErrNotPolling when the device has no
// running loop.
type Workflows interface {
	StartPolling(ctx context.Context, id uuid.UUID, interval time.Duration) (string, error)
	StopPolling(ctx context.Context, id uuid.UUID) error
	Signal(ctx context.Context, id uuid.UUID, name string, arg any) error
	PollNow(ctx context.Context, id uuid.UUID) (*workflows.PollNowResult, error)
	Status(ctx context.Context, id uuid.UUID) (*workflows.DevicePollState, error)
	FetchLogs(ctx context.Context, in activities.FetchLogsInput) (*activities.FetchLogsResult, error)
	Operator
	Scheduler
	TestSender
}

// HealthChecker reports whether a dependency (Temporal) answers.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// Deps is what the service layer needs from the process that runs it.
type Deps struct {
	Config *config.Config
	Pool   *pgxpool.Pool
	// Workflows runs everything that touches a device; without it the schedule and test-send calls answer 503.
	Workflows Workflows
	Temporal  HealthChecker
	Log       *slog.Logger
	Now       func() time.Time
	// Hub fans live updates out to stream clients; without one the WebSocket answers 503.
	Hub *hub.Hub
	// Secrets encrypts notification channels' credentials; without it channels with a token or secret cannot be
	// saved.
	Secrets *secret.Box
	// OpKinds replaces the product's device operation kinds the API validates against (tests; nil: the product's).
	OpKinds []activities.OpKind
}

// Service is what every interface (REST, MCP, the WebSocket stream, the dashboard) shares: its dependencies,
// token checks with their limits, audit records, and the operations and reads that more than one interface
// serves, so that each answers with the same verdicts from the same code.
type Service struct {
	Deps

	// Tokens (#15): rate limits, throttled refusal records, coalesced last-use writes, and the streams to end
	// when a token stops working.
	Limits    authLimits
	refusals  auditThrottle
	touchMu   sync.Mutex
	touched   map[uuid.UUID]time.Time
	Streams   tokenStreams
	stopWatch context.CancelFunc
}

// New builds the service and starts its token watch; Close stops it.
func New(d Deps) *Service {
	s := &Service{Deps: d, touched: map[uuid.UUID]time.Time{}}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.startTokenWatch()
	return s
}

// Close stops the token watch.
func (s *Service) Close() { s.stopWatch() }
