//go:build linux || darwin || freebsd || netbsd || openbsd

package transport

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// peerClosed looks, without blocking or consuming anything, whether the
// peer has closed a stream connection: a syslog receiver never sends, so a
// readable socket means EOF, a reset, or a TLS close_notify before EOF.
func peerClosed(conn net.Conn) error {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var peekErr error
	var buf [1]byte
	if err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
			// Nothing to read: the connection is open.
		case err != nil:
			peekErr = err
		case n == 0:
			peekErr = ErrPeerClosed
		default:
			peekErr = ErrPeerClosed // data from a receiver that never sends: a close_notify or garbage
		}
		return true // never wait for readiness
	}); err != nil {
		return err
	}
	return peekErr
}
