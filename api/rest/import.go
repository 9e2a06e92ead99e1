package rest

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/sshconfig"
	"github.com/infrastructor/infrastructor/internal/store"
)

// importItem is one line of the import report.
type importItem struct {
	Name   string `json:"name"`
	ID     string `json:"id,omitempty"`
	Host   string `json:"host,omitempty"`
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type importReport struct {
	DryRun  bool         `json:"dry_run"`
	Created []importItem `json:"created"`
	Updated []importItem `json:"updated"`
	Skipped []importItem `json:"skipped"`
}

// importDevices creates or updates devices from an OpenSSH client config (the body). Concrete Host entries
// become devices; wildcard hosts, Match blocks and invalid entries are reported as skipped. Query options:
// dry_run, default_user (for hosts without User), tags (comma-separated, added to new devices),
// host_key_policy (for new devices).
func (s *Server) importDevices(c *fiber.Ctx) error {
	fields := map[string]string{}
	dryRun := false
	if v := c.Query("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fields["dry_run"] = "must be true or false"
		}
		dryRun = b
	}
	defaultUser := c.Query("default_user")
	if defaultUser != "" {
		if msg := validateUser(defaultUser); msg != "" {
			fields["default_user"] = msg
		}
	}
	var tags []string
	if v := c.Query("tags"); v != "" {
		clean, msg := service.ValidateTags(strings.Split(v, ","))
		if msg != "" {
			fields["tags"] = msg
		}
		tags = clean
	}
	policy := c.Query("host_key_policy", store.PolicyRequireApproval)
	if policy != store.PolicyRequireApproval && policy != store.PolicyTrustFirstUse {
		fields["host_key_policy"] = "must be require_approval or trust_first_use"
	}
	if len(c.Body()) == 0 {
		fields["body"] = "must be the contents of an OpenSSH client config file"
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	parsed, err := sshconfig.Parse(bytes.NewReader(c.Body()))
	if err != nil {
		return service.Invalid(map[string]string{"body": err.Error()})
	}

	rep := importReport{DryRun: dryRun, Created: []importItem{}, Updated: []importItem{}, Skipped: []importItem{}}
	for _, sk := range parsed.Skipped {
		rep.Skipped = append(rep.Skipped, importItem{Name: sk.Name, Line: sk.Line, Reason: sk.Reason})
	}
	ctx := c.UserContext()
	var started []*store.Device
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, h := range parsed.Hosts {
			item := importItem{Name: h.Name, Host: h.HostName, Line: h.Line}
			d := newDeviceDefaults()
			d.Name, d.Host, d.User, d.HostKeyPolicy = h.Name, h.HostName, h.User, policy
			d.Tags = append([]string{}, tags...)
			d.Description = "imported from ssh config"
			if h.Port != 0 {
				d.Port = h.Port
			}
			if d.User == "" {
				d.User = defaultUser
			}
			if h.ProxyJump != "" {
				j := h.ProxyJump
				d.JumpHost = &j
			}
			if reason := importProblem(d, h.ProxyJump); reason != "" {
				item.Reason = reason
				rep.Skipped = append(rep.Skipped, item)
				continue
			}
			existing, err := store.GetDeviceByName(ctx, tx, d.Name)
			switch {
			case err == store.ErrNotFound:
				if !dryRun {
					created, err := store.CreateDevice(ctx, tx, d)
					if err != nil {
						return err
					}
					item.ID = created.ID.String()
					started = append(started, created)
				}
				rep.Created = append(rep.Created, item)
			case err != nil:
				return err
			default:
				item.ID = existing.ID.String()
				if existing.Host == d.Host && existing.Port == d.Port && existing.User == d.User && equalPtr(existing.JumpHost, d.JumpHost) {
					item.Reason = "unchanged"
					rep.Skipped = append(rep.Skipped, item)
					continue
				}
				existing.Host, existing.Port, existing.User, existing.JumpHost = d.Host, d.Port, d.User, d.JumpHost
				if !dryRun {
					updated, err := store.UpdateDevice(ctx, tx, existing)
					if err != nil {
						return err
					}
					started = append(started, updated)
				}
				rep.Updated = append(rep.Updated, item)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	setAudit(c, "device.import", "devices", map[string]any{"dry_run": dryRun, "created": len(rep.Created),
		"updated": len(rep.Updated), "skipped": len(rep.Skipped)})
	for _, d := range started {
		if err := s.syncPolling(c, d); err != nil {
			return err
		}
	}
	status := http.StatusOK
	if !dryRun && len(rep.Created) > 0 {
		status = http.StatusCreated
	}
	return c.Status(status).JSON(rep)
}

// importProblem applies the same rules as the devices API to an imported host and names the first problem.
func importProblem(d *store.Device, jump string) string {
	if msg := service.ValidateName(d.Name); msg != "" {
		return "name " + msg
	}
	if msg := validateHost(d.Host); msg != "" {
		return "HostName " + msg
	}
	if d.User == "" {
		return "no User for this host; pass default_user"
	}
	if msg := validateUser(d.User); msg != "" {
		return "User " + msg
	}
	if msg := validatePort(d.Port); msg != "" {
		return "Port " + msg
	}
	if jump != "" {
		if strings.Contains(jump, ",") {
			return "ProxyJump with several hops is not supported"
		}
		if msg := validateJumpHost(jump); msg != "" {
			return "ProxyJump " + msg
		}
	}
	return ""
}
