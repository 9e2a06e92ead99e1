package process

// FixedScript is the listing the product sends: the top MaxLimit processes by s, cut to the asked limit after
// parsing. Sending one fixed script per order (rather than one per limit) lets the device wrapper compare it byte
// for byte; the device sorts the whole list either way, so the larger head costs it next to nothing.
func FixedScript(s Sort) string {
	if s != ByMemory {
		s = ByCPU
	}
	script, err := Script(s, MaxLimit)
	if err != nil {
		panic(err) // both orders and MaxLimit are valid by construction
	}
	return script
}
