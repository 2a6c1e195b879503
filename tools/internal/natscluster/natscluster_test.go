package natscluster_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kairos-platform/identity/pkg/events"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/tools/internal/natscluster"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// connect logs in as user with the cluster's TLS files and the given inbox
// prefix; every asynchronous error (a permission violation) goes to errs.
func connect(t *testing.T, c *natscluster.Cluster, user, inbox string, errs chan<- error) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.URL(), nats.UserInfo(user, c.Passwords[user]), nats.RootCAs(c.TLS.CA),
		nats.ClientCert(c.TLS.ClientCert, c.TLS.ClientKey), nats.CustomInboxPrefix(inbox),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The users of deploy/examples/nats-accounts.conf get what their service
// needs and nothing the other one does: the notifier cannot publish events
// nor read auth-api's replies; auth-api cannot touch the notifier's bucket.
// Against the oldest supported server (Debian's 2.9 binary); the clustered
// fault matrix runs both services with these users on the current one.
func TestLeastPrivilege(t *testing.T) {
	if _, err := os.Stat(natstest.SystemBinary); err != nil {
		t.Fatalf("%s is missing (%v); install it with `apt-get install nats-server`", natstest.SystemBinary, err)
	}
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := natscluster.Start(ctx, natscluster.Options{Root: root, Dir: t.TempDir(), Bin: natstest.SystemBinary, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	authErrs, notifierErrs := make(chan error, 16), make(chan error, 16)
	authJS, _ := jetstream.New(connect(t, c, natscluster.AuthAPIUser, "_INBOX_auth-api", authErrs))
	notifierNC := connect(t, c, natscluster.NotifierUser, "_INBOX_notifier", notifierErrs)
	notifierJS, _ := jetstream.New(notifierNC)

	// Allowed: auth-api ensures USERS and publishes an event; the notifier
	// binds a durable to it and sets up its bucket.
	if _, err := events.EnsureStream(ctx, authJS, 1, 0); err != nil {
		t.Fatalf("auth-api ensures USERS: %v", err)
	}
	if _, err := authJS.Publish(ctx, events.UserCreated, []byte("{}")); err != nil {
		t.Fatalf("auth-api publishes %s: %v", events.UserCreated, err)
	}
	if _, err := notifierJS.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable: "email", FilterSubject: "user.>", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatalf("notifier binds its durable: %v", err)
	}
	if _, err := notifierJS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "notifier_sent"}); err != nil {
		t.Fatalf("notifier sets up its bucket: %v", err)
	}

	if n, err := c.Violations(); err != nil || n != 0 {
		t.Fatalf("the server logged %d permission violations (%v) for what the services need", n, err)
	}

	denied := []struct {
		name string
		do   func() error
		errs chan error
	}{
		{"notifier publishes " + events.UserCreated, func() error {
			return notifierNC.Publish(events.UserCreated, []byte("{}"))
		}, notifierErrs},
		{"notifier reads auth-api's replies", func() error {
			_, err := notifierNC.SubscribeSync("_INBOX_auth-api.>")
			return err
		}, notifierErrs},
		{"notifier deletes USERS", func() error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return notifierJS.DeleteStream(ctx, events.StreamName)
		}, notifierErrs},
		{"auth-api opens the notifier's bucket", func() error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := authJS.KeyValue(ctx, "notifier_sent")
			return err
		}, authErrs},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			for len(tc.errs) > 0 {
				<-tc.errs
			}
			// The server answers a refused publish or subscription with an
			// asynchronous -ERR; a refused API request also times out.
			err := tc.do()
			if !errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case err = <-tc.errs:
				case <-time.After(15 * time.Second):
				}
			}
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("got %v, want a permission violation", err)
			}
		})
	}
}
