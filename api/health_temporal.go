package api

import (
	"context"

	"go.temporal.io/sdk/client"
)

// TemporalHealth is the HealthChecker of a Temporal client: the frontend's health check.
type TemporalHealth struct{ Client client.Client }

// CheckHealth implements HealthChecker.
func (t TemporalHealth) CheckHealth(ctx context.Context) error {
	_, err := t.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}
