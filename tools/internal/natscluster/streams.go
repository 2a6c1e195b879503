package natscluster

import (
	"context"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// inboxes are the reply prefixes the users may subscribe to.
var inboxes = map[string]string{AuthAPIUser: "_INBOX_auth-api", NotifierUser: "_INBOX_notifier"}

// StreamInfo asks the cluster about stream as user (auth-api may look up
// USERS and SESSIONS, the notifier USERS, USERS_DLQ and KV_notifier_sent).
func (c *Cluster) StreamInfo(ctx context.Context, user, stream string) (*jetstream.StreamInfo, error) {
	nc, err := nats.Connect(c.URL(), nats.UserInfo(user, c.Passwords[user]), nats.RootCAs(c.TLS.CA),
		nats.ClientCert(c.TLS.ClientCert, c.TLS.ClientKey), nats.CustomInboxPrefix(inboxes[user]))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// Violations counts the permission violations the nodes logged: with the
// services running as their users there must be none.
func (c *Cluster) Violations() (int, error) {
	n := 0
	for _, node := range c.Nodes {
		b, err := os.ReadFile(node.LogPath)
		if err != nil {
			return 0, err
		}
		n += strings.Count(string(b), "Permissions Violation")
	}
	return n, nil
}
