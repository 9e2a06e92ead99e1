package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// ErrTypeWorkdirUnconfirmed means a compose project's working directory, as its containers' label gives it, has
// not been confirmed by an operator (or the label changed since); the operation is refused, not retried.
const ErrTypeWorkdirUnconfirmed = "WorkdirUnconfirmed"

// UnconfirmedWorkdirError says which compose working directory an operator has to confirm before compose
// actions run on the project: the com.docker.compose.project.working_dir label can be set by any image, so a
// directory taken from it is never used unconfirmed (#15).
type UnconfirmedWorkdirError struct {
	Project string
	// LabelDir is the directory the label names.
	LabelDir string
	// ConfirmedDir is the directory confirmed earlier, if any (the label changed since).
	ConfirmedDir string
}

func (e *UnconfirmedWorkdirError) Error() string {
	if e.ConfirmedDir != "" {
		return fmt.Sprintf("the %s label of compose project %s now says %q, not the confirmed %q",
			docker.LabelComposeWorkingDir, e.Project, e.LabelDir, e.ConfirmedDir)
	}
	return fmt.Sprintf("the working directory %q of compose project %s (from its %s label) is not confirmed",
		e.LabelDir, e.Project, docker.LabelComposeWorkingDir)
}

// HowToConfirm tells an operator how to confirm the label's directory on the device.
func (e *UnconfirmedWorkdirError) HowToConfirm(deviceID string) string {
	return fmt.Sprintf(`an admin confirms it with POST /api/v1/devices/%s/compose/%s/confirm and the body {"working_dir": %q}`,
		deviceID, e.Project, e.LabelDir)
}

// ComposeWorkdir returns the working directory compose actions may use for a device's project: the confirmed
// one, when the stored containers' label agrees with it or no stored container carries the label any more (a
// project that is down). A label that names another directory, or one nobody confirmed, is an
// *UnconfirmedWorkdirError; a label that is no acceptable path is a *docker.ArgError for "workdir". An empty
// directory with a nil error means nothing is known about the project's directory.
func ComposeWorkdir(ctx context.Context, db store.DBTX, deviceID uuid.UUID, project string) (string, error) {
	label, err := store.ComposeWorkingDir(ctx, db, deviceID, project)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("compose project %s: working directory label: %w", project, err)
	}
	confirmed := ""
	w, err := store.ConfirmedComposeWorkdir(ctx, db, deviceID, project)
	switch {
	case err == nil:
		confirmed = w.WorkingDir
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("compose project %s: confirmed working directory: %w", project, err)
	}
	return checkWorkdirLabel(project, label, confirmed)
}

// checkWorkdirLabel decides between the label's directory (empty for none) and the confirmed one.
func checkWorkdirLabel(project, label, confirmed string) (string, error) {
	if label == "" || label == confirmed {
		return confirmed, nil
	}
	if err := docker.ValidWorkdir(label); err != nil {
		return "", err
	}
	return "", &UnconfirmedWorkdirError{Project: project, LabelDir: label, ConfirmedDir: confirmed}
}
