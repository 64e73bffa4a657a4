package s3test

import "syscall"

func setXattr(dir string) error {
	return syscall.Setxattr(dir, "user.claimbot.probe", []byte("1"), 0)
}
