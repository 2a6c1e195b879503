package natstest_test

import (
	"testing"

	"github.com/kairos-platform/identity/pkg/natstest"
)

func TestRestartKeepsTheURL(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *natstest.Server{
		"in-process": natstest.New, "system": natstest.NewSystem,
	} {
		t.Run(name, func(t *testing.T) {
			n := start(t)
			url := n.URL()
			n.Stop()
			if err := n.Start(); err != nil {
				t.Fatal(err)
			}
			if n.URL() != url {
				t.Fatalf("URL changed: %s → %s", url, n.URL())
			}
			if n.Version() == "" {
				t.Error("no version")
			}
		})
	}
}

func TestListenOutsideTests(t *testing.T) {
	n, err := natstest.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	n.Stop()
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
}
