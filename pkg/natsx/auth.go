package natsx

import "github.com/nats-io/nats.go"

// Auth is how a service proves who it is to NATS and checks the server's
// certificate. Files are named, not read, for the credentials and TLS
// files: nats.go reads them on every (re)connect, so a rotated Secret is
// picked up without a restart. Zero value: no credentials, no TLS.
type Auth struct {
	CredsFile string // a JWT/NKey .creds file (decentralised auth)
	User      string // with Password: a user of the server's own config
	Password  string // secret; read from a file by the config loader
	// TLS: CAFile alone verifies the server; CertFile and KeyFile add a
	// client certificate (mutual TLS).
	CAFile, CertFile, KeyFile string
}

// Options are the nats.go options for a, for natsx.Options.Extra.
func (a Auth) Options() []nats.Option {
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

// String says what is configured without the password.
func (a Auth) String() string {
	s := "none"
	switch {
	case a.CredsFile != "":
		s = "creds"
	case a.User != "":
		s = "user " + a.User
	}
	switch {
	case a.CertFile != "":
		s += ", mutual TLS"
	case a.CAFile != "":
		s += ", TLS"
	}
	return s
}
