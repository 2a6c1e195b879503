package stack

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
)

// WriteDeviceKeyFile writes a throwaway DEVICE_COOKIE_KEY_FILE (one random
// 32-byte HMAC key) into dir and returns its path: local stacks get device
// cookies as production does, with a key that dies with the stack.
func WriteDeviceKeyFile(dir string) (string, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (Go 1.24+)
	path := filepath.Join(dir, "device-cookie-keys")
	line := "# throwaway key of a local stack\n" + base64.StdEncoding.EncodeToString(key) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
