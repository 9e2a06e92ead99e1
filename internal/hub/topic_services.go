package hub

// Subscribers may follow a device's failed and watched systemd units (vocab.TopicDeviceServices, #12).
func init() { deviceKinds["services"] = true }
