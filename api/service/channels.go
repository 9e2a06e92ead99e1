package service

import (
	"context"
	"time"

	"github.com/infrastructor/infrastructor/workflows"
)

// TestSender runs the Notify workflow of a test notice (workflows.Client in production); part of Workflows.
type TestSender interface {
	SendTest(ctx context.Context, deliveryID int64) (*workflows.NotifyResult, error)
}

// TestSendWait bounds how long a test-send request waits for the delivery.
const TestSendWait = 20 * time.Second
