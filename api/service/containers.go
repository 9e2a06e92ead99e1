package service

import (
	"context"
	"encoding/json"
	"time"

	"github.com/infrastructor/infrastructor/activities"
)

// logsTimeout bounds how long a logs request waits for the device.
const logsTimeout = 45 * time.Second

// FetchLogs runs the ContainerLogs workflow and takes the lines it stored (deleting them: they are read once).
// Errors are the workflow's, for the caller to explain.
func (s *Service) FetchLogs(ctx context.Context, in activities.FetchLogsInput) (*activities.LogFetch, error) {
	lctx, cancel := context.WithTimeout(ctx, logsTimeout)
	defer cancel()
	if _, err := s.Workflows.FetchLogs(lctx, in); err != nil {
		return nil, err
	}
	var body []byte
	if err := s.Pool.QueryRow(context.WithoutCancel(ctx), `DELETE FROM log_fetches WHERE id = $1 RETURNING body`,
		in.FetchID).Scan(&body); err != nil {
		return nil, err
	}
	var fetch activities.LogFetch
	if err := json.Unmarshal(body, &fetch); err != nil {
		return nil, err
	}
	return &fetch, nil
}
