package hub

// The device topics of package updates, VMs and networks (#13): device.<id>.updates, .vms and .network carry a
// one-line summary after each collection; clients re-read the details through REST.
func init() {
	for _, k := range []string{"updates", "vms", "network"} {
		deviceKinds[k] = true
	}
}
