//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package webhook

import "syscall"

// probe peeks at the socket without blocking or consuming anything: it is
// run by RawConn.Read, and returns true so that Read never waits.
func (c *h1Conn) probe(fd uintptr) bool {
	for {
		n, _, err := syscall.Recvfrom(int(fd), c.probeBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		c.probeN, c.probeErr = n, err
		return true
	}
}

// probeSaysAlive reports whether the probe found the socket open and
// silent: nothing to read yet (EAGAIN). A byte, the end of the stream (0)
// or any other error condemns the connection.
func probeSaysAlive(_ int, err error) bool {
	return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
