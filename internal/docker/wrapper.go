package docker

// ComposePrefix is the fixed start of every compose command (ComposeUp, ComposeDown, ...): the sh invocation of
// the compose fallback script, before its quoted arguments. The device wrapper (internal/devicewrapper) allows a
// compose command only when it starts with exactly this text.
func ComposePrefix() string { return Join("sh", "-c", composeScript, "sh") }
