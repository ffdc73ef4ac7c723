package transport

import (
	"crypto/tls"
	"net"
	"syscall"
)

// quickAck makes the kernel acknowledge what arrives next at once instead
// of delaying the ACK. Linux resets the option by itself, so it is set
// again before each wait for answers.
func quickAck(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
