package stack

import (
	"net"
	"strconv"
	"testing"
)

// Picked ports lie below the ephemeral range (where outgoing connections
// cannot take them) and can be listened on.
func TestFreeAddrAvoidsTheEphemeralRange(t *testing.T) {
	if ephemeralLow() <= lowestPort {
		t.Skipf("no room below the ephemeral range (starts at %d)", ephemeralLow())
	}
	for range 20 {
		addr, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(addr)
		if p, _ := strconv.Atoi(port); p < lowestPort || p >= ephemeralLow() {
			t.Fatalf("FreeAddr = %s, want a port in [%d, %d)", addr, lowestPort, ephemeralLow())
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		ln.Close()
	}
}
