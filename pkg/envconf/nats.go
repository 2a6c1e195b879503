package envconf

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
)

// NATSAuth is how a service proves who it is to NATS and checks the
// server's certificate (natsx.AuthOptions turns it into nats.go options).
// Zero value: no credentials, no TLS.
type NATSAuth struct {
	CredsFile string // a JWT/NKey .creds file (decentralised auth)
	User      string // with Password: a user of the server's own config
	Password  string // secret, read from NATS_PASSWORD_FILE
	// TLS: CAFile alone verifies the server; CertFile and KeyFile add a
	// client certificate (mutual TLS).
	CAFile, CertFile, KeyFile string
}

// String says what is configured without the password.
func (a NATSAuth) String() string {
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

// NATSAuth reads the NATS credentials and TLS files both services share:
// NATS_CREDS_FILE, or NATS_USER with NATS_PASSWORD_FILE; NATS_TLS_CA_FILE,
// NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE. Every file is checked here, so
// a wrong mount fails at start with the variable's name rather than as a
// reconnect loop. Secrets come from files (a mounted Secret), never from
// NATS_URL, which lives in a ConfigMap.
func (e *Env) NATSAuth() NATSAuth {
	a := NATSAuth{
		CredsFile: e.Str("NATS_CREDS_FILE", ""),
		User:      e.Str("NATS_USER", ""),
		CAFile:    e.Str("NATS_TLS_CA_FILE", ""),
		CertFile:  e.Str("NATS_TLS_CERT_FILE", ""),
		KeyFile:   e.Str("NATS_TLS_KEY_FILE", ""),
	}
	pwFile := e.Str("NATS_PASSWORD_FILE", "")
	switch {
	case a.CredsFile != "" && a.User != "":
		e.Fail("NATS_USER", "set together with NATS_CREDS_FILE; use one of them")
	case a.User != "" && pwFile == "":
		e.Fail("NATS_PASSWORD_FILE", "required with NATS_USER")
	case pwFile != "" && a.User == "":
		e.Fail("NATS_PASSWORD_FILE", "set without NATS_USER")
	case pwFile != "":
		b, err := os.ReadFile(pwFile)
		if a.Password = strings.TrimRight(string(b), "\r\n"); err != nil || a.Password == "" {
			e.Fail("NATS_PASSWORD_FILE", "%s: %s", pwFile, fileProblem(err))
		}
	}
	if a.CredsFile != "" {
		if b, err := os.ReadFile(a.CredsFile); err != nil || !strings.Contains(string(b), "BEGIN NATS USER JWT") {
			e.Fail("NATS_CREDS_FILE", "%s: %s", a.CredsFile, fileProblem(err, "not a .creds file (nsc generate creds)"))
		}
	}
	if a.CAFile != "" {
		b, err := os.ReadFile(a.CAFile)
		if err != nil || !x509.NewCertPool().AppendCertsFromPEM(b) {
			e.Fail("NATS_TLS_CA_FILE", "%s: %s", a.CAFile, fileProblem(err, "no PEM certificate in it"))
		}
	}
	switch {
	case a.CertFile != "" && a.KeyFile == "":
		e.Fail("NATS_TLS_KEY_FILE", "required with NATS_TLS_CERT_FILE")
	case a.KeyFile != "" && a.CertFile == "":
		e.Fail("NATS_TLS_CERT_FILE", "required with NATS_TLS_KEY_FILE")
	case a.CertFile != "":
		if _, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile); err != nil {
			// The error names the files and the mismatch, never the key.
			e.Fail("NATS_TLS_CERT_FILE", "with NATS_TLS_KEY_FILE: %v", err)
		}
	}
	return a
}

// fileProblem is why a file was refused: the read error, else what its
// content lacks (or that it is empty).
func fileProblem(err error, lacking ...string) string {
	if err != nil {
		return err.Error()
	}
	if len(lacking) > 0 {
		return lacking[0]
	}
	return "empty"
}
