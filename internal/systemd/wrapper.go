package systemd

import "fmt"

// Prelude is the text every script of this package starts with (the locale, PATH and "is systemd running"
// check), for the device wrapper, which recognises the scripts by it.
func Prelude() string { return prelude }

// ShowTail is how every ShowScript ends, after the systemctl command.
func ShowTail() string { return " | head -c " + fmt.Sprint(MaxOutputBytes) + "\n" }
