package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
)

// SigningKey makes sure path holds an ES256 signing key for auth-api's
// JWT_SIGNING_KEYS_FILE (a PKCS#8 PEM block, what `auth-api keys generate`
// prints), generating one when the file does not exist yet. A throwaway key
// for a machine that only runs tests and the dev stack.
func SigningKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}
