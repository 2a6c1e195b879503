package smtp

import (
	"net"
	"testing"
	"time"
)

// alive tells an idle connection the server still holds from one it has
// closed or spoken on (a 421 before closing), without consuming anything.
func TestAlive(t *testing.T) {
	tests := []struct {
		name   string
		server func(net.Conn)
		want   bool
	}{
		{"idle", func(net.Conn) {}, true},
		{"closed by the server", func(c net.Conn) { _ = c.Close() }, false},
		{"unsolicited reply", func(c net.Conn) { _, _ = c.Write([]byte("421 idle too long\r\n")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			tt.server(server)
			// The server's close or bytes reach the client's socket in
			// their own time: poll until the answer is the wanted one, and
			// for the idle case, check it stays so.
			deadline := time.Now().Add(5 * time.Second)
			got := alive(client)
			for got != tt.want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				got = alive(client)
			}
			if got != tt.want {
				t.Fatalf("alive = %v, want %v", got, tt.want)
			}
			if tt.want {
				// Peeking consumed nothing and left the connection usable.
				_, _ = server.Write([]byte("x"))
				buf := make([]byte, 1)
				_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := client.Read(buf); n != 1 || err != nil {
					t.Fatalf("read after alive: %d, %v", n, err)
				}
			}
		})
	}
}
