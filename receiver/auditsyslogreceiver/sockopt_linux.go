//go:build linux

package auditsyslogreceiver // import "github.com/otelcol-audit/otelcol-audit/receiver/auditsyslogreceiver"

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// enableDropCounter asks the kernel to attach, to every datagram read, the
// count of datagrams it dropped on this socket so far (SO_RXQ_OVFL).
func enableDropCounter(c *net.UDPConn) error {
	return setsockopt(c, unix.SO_RXQ_OVFL, 1)
}

// parseDropCounter reads the SO_RXQ_OVFL count from a read's control data.
func parseDropCounter(oob []byte) (uint32, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}

// setReceiveBuffer sets the socket's receive buffer to size bytes:
// SO_RCVBUFFORCE where the process may (CAP_NET_ADMIN), else SO_RCVBUF,
// which the kernel caps at net.core.rmem_max. It returns the size the
// kernel granted (it reports twice the usable size; halved here).
func setReceiveBuffer(c net.PacketConn, size int) (got int, forced bool, err error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) == nil {
			forced = true
		} else if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size); serr != nil {
			return
		}
		var v int
		v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		got = v / 2
	})
	return got, forced, errors.Join(cerr, serr)
}

func setsockopt(c *net.UDPConn, opt, value int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, value)
	})
	return errors.Join(cerr, serr)
}

// unixDgramQueueLen reads net.unix.max_dgram_qlen, the number of datagrams
// the kernel queues on a unix datagram socket before refusing senders.
func unixDgramQueueLen() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/unix/max_dgram_qlen")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// socketInode returns the inode of the socket, which names it in
// /proc/net/udp.
func socketInode(c net.PacketConn) (uint64, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	var serr error
	cerr := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) })
	return st.Ino, errors.Join(cerr, serr)
}

// procUDPDrops returns the kernel's drop count of the UDP socket with this
// inode from /proc/net/udp and /proc/net/udp6 (the last column, "drops").
// Unlike SO_RXQ_OVFL, which the kernel reports with the next datagram it
// queues, it shows the drops of a burst that nothing followed.
func procUDPDrops(inode uint64) (uint32, bool) {
	want := strconv.FormatUint(inode, 10)
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
			if len(fields) >= 13 && fields[9] == want {
				n, err := strconv.ParseUint(fields[len(fields)-1], 10, 32)
				return uint32(n), err == nil
			}
		}
	}
	return 0, false
}
