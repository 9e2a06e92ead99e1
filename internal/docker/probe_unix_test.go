package docker

import (
	"bytes"
	"syscall"
)

type bytesBuffer = bytes.Buffer

func sysProcAttrAs(uid, gid int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}
