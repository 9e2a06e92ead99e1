package activities

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Runner runs one command on a device over SSH (the SSH pool in production).
type Runner interface {
	Run(ctx context.Context, t sshpool.Target, cmd string, stdin []byte) (*sshpool.Result, error)
	Drop(deviceID string)
}

// Activities is built once per worker and registered as a struct: every exported method is an activity.
type Activities struct {
	DB  *pgxpool.Pool
	SSH Runner
	Log *slog.Logger
	Now func() time.Time
	// Retention bounds how long data is kept (store.DefaultRetention when zero).
	Retention store.Retention
	// Secrets opens notification channels' credentials; without it only credentials stored in the clear (from
	// before encryption at rest) can be sent.
	Secrets *secret.Box
	// Notify sends notifications; nil means a sender that refuses loopback receivers.
	Notify *notify.Sender

	// systemLogScript and journalTailCommand replace journal.Script and journal.TailCommand in this package's
	// tests, which point them at test journal files: nothing outside the tests can set them (#12).
	systemLogScript    func(journal.Filter) string
	journalTailCommand func(journal.Filter, string) string
	// Collectors run in the slow-cadence collection; nil means the product's (defaultCollectors).
	Collectors []InventoryCollector
	// OpKinds are the device operation kinds; nil means the product's (opKinds).
	OpKinds []OpKind
	// ImageCheckInterval is how long a registry's answer for an image reference is trusted
	// (DefaultImageCheckInterval when zero).
	ImageCheckInterval time.Duration
	// AlertConfig caches the alert rules, overrides, maintenance windows and channels between evaluations while
	// their version is unchanged (#17); nil reads them at every evaluation.
	AlertConfig *store.AlertConfigCache
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
