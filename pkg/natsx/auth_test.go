package natsx_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kairos-platform/identity/pkg/envconf"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/natsx"
)

// startServer runs an in-process server with opts on a random port.
func startServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// credsFile writes a .creds file of a user of a fresh operator and account,
// and returns the server options that trust them.
func credsFile(t *testing.T, dir string) (string, *server.Options) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	akp, err := nkeys.CreateAccount()
	must(err)
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	must(err)
	ukp, err := nkeys.CreateUser()
	must(err)
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	seed, err := ukp.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	must(err)
	path := filepath.Join(dir, "user.creds")
	must(os.WriteFile(path, creds, 0o600))
	resolver := &server.MemAccResolver{}
	must(resolver.Store(apub, ajwt))
	return path, &server.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver}
}

// Each way of logging in that the services offer connects: what envconf
// reads from the NATS_* variables, through AuthOptions, to a server that
// demands it.
func TestAuthOptionsConnect(t *testing.T) {
	dir := t.TempDir()
	tf, err := natstest.WriteTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	password := filepath.Join(dir, "password")
	if err := os.WriteFile(password, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mutualTLS, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: tf.ServerCert, KeyFile: tf.ServerKey,
		CaFile: tf.CA, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	creds, operatorMode := credsFile(t, dir)
	for _, tc := range []struct {
		name string
		opts *server.Options
		env  map[string]string
	}{
		{"user and password over mutual TLS",
			&server.Options{Username: "notifier", Password: "s3cret", TLS: true, TLSVerify: true, TLSConfig: mutualTLS},
			map[string]string{"NATS_USER": "notifier", "NATS_PASSWORD_FILE": password, "NATS_TLS_CA_FILE": tf.CA,
				"NATS_TLS_CERT_FILE": tf.ClientCert, "NATS_TLS_KEY_FILE": tf.ClientKey}},
		{"creds file (operator mode)", operatorMode, map[string]string{"NATS_CREDS_FILE": creds}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startServer(t, tc.opts)
			e := envconf.New(func(k string) string { return tc.env[k] })
			auth := e.NATSAuth()
			if err := e.Err(); err != nil {
				t.Fatal(err)
			}
			c, err := natsx.Connect(url, natsx.Options{Name: "test", Extra: natsx.AuthOptions(auth), ReconnectWait: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := natsx.Retry(ctx, nil, "flush", func(context.Context) (struct{}, error) {
				return struct{}{}, c.Flush()
			}); err != nil {
				t.Fatalf("never connected: %v", err)
			}
		})
	}
}
