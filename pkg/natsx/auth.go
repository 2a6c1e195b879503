package natsx

import (
	"github.com/nats-io/nats.go"

	"github.com/kairos-platform/identity/pkg/envconf"
)

// AuthOptions are the nats.go options for a service's NATS credentials and
// TLS (envconf.NATSAuth), for Options.Extra. nats.go reads the .creds, CA
// and certificate files on every (re)connect, so a rotated Secret is
// picked up without a restart.
func AuthOptions(a envconf.NATSAuth) []nats.Option {
	var opts []nats.Option
	if a.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.User != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	return opts
}
