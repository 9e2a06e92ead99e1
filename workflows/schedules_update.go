package workflows

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
)

// userScheduleSpec is the Temporal spec of a user schedule: its cron expression or interval, in its time zone.
func userScheduleSpec(o UserScheduleOptions) client.ScheduleSpec {
	spec := client.ScheduleSpec{TimeZoneName: o.TimeZone}
	if o.Cron != "" {
		spec.CronExpressions = []string{o.Cron}
	} else {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: o.Every, Offset: o.Offset}}
	}
	return spec
}

// UpdateUserSchedule replaces the spec and the overlap policy of a user schedule's Temporal schedule, keeping
// its action and its paused state (o.Paused is ignored): ScheduledActionWorkflow reads the schedule's action
// from the store when it runs, so an edited action needs no change here. Temporal validates the cron
// expression and the time zone; its error (an InvalidArgument) is returned as is and leaves the schedule
// unchanged.
func (p *Client) UpdateUserSchedule(ctx context.Context, o UserScheduleOptions) error {
	spec := userScheduleSpec(o)
	err := p.Client.ScheduleClient().GetHandle(ctx, UserScheduleID(o.ID)).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = overlapPolicy(o.Overlap)
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", UserScheduleID(o.ID), err)
	}
	return nil
}
