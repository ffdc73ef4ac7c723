//go:build !linux

package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"errors"
	"net"
	"syscall"
)

func enableDropCounter(*net.UDPConn) error {
	return errors.New("SO_RXQ_OVFL is Linux only")
}

func parseDropCounter([]byte) (uint32, bool) { return 0, false }

// setReceiveBuffer sets SO_RCVBUF (SO_RCVBUFFORCE is Linux only).
func setReceiveBuffer(c net.PacketConn, size int) (int, bool, error) {
	type readBufferSetter interface{ SetReadBuffer(int) error }
	if s, ok := c.(readBufferSetter); ok {
		return size, false, s.SetReadBuffer(size)
	}
	_ = syscall.SOL_SOCKET
	return 0, false, errors.New("not a socket")
}

func unixDgramQueueLen() (int, error) { return 0, errors.New("not Linux") }

func socketInode(net.PacketConn) (uint64, error) { return 0, errors.New("not Linux") }

func procUDPDrops(uint64) (uint32, bool) { return 0, false }
