package stack

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// A port is free only when it is picked: between that and the child's
// bind, or while a replica is down between restarts, someone else can take
// it. The kernel's own choice (port 0) comes from the ephemeral range, the
// one every outgoing connection draws from, and the load generator opens
// thousands: a full load run once lost a replica to "address already in
// use". So ports are picked below that range, where only listeners live.

// lowestPort is where the search starts; below it are the well-known
// services a development machine runs.
const lowestPort = 20000

// FreeAddr returns a loopback host:port that was free a moment ago, outside
// the kernel's ephemeral range when there is room below it.
func FreeAddr() (string, error) {
	lo, hi := lowestPort, ephemeralLow()
	for i := 0; i < 100 && lo < hi; i++ {
		if addr, err := listenFree(lo + rand.IntN(hi-lo)); err == nil {
			return addr, nil
		}
	}
	return listenFree(0)
}

// listenFree listens on loopback port (0: the kernel's choice) and lets go,
// returning the address it had.
func listenFree(port int) (string, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 where it cannot be read).
func ephemeralLow() int {
	var lo, hi int
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 32768
	}
	return lo
}
