package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// refreshBytes is the entropy of a refresh token.
const refreshBytes = 32

// NewRefreshToken returns a fresh refresh token (32 random bytes, base64url)
// and the SHA-256 that is all the database keeps of it.
func NewRefreshToken() (token string, hash []byte, err error) {
	var b [refreshBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashRefresh(token), nil
}

// HashRefresh is the lookup key of a presented refresh token.
func HashRefresh(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// sealKey derives the key that seals a token's successor from the token's
// plaintext. It is an HKDF expansion, unrelated to the SHA-256 the database
// stores, so a copy of the database cannot open any sealed successor: only
// somebody presenting the old token can, and within the grace window that
// somebody is entitled to the successor anyway.
func sealKey(token string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(token), nil, "kairos refresh successor v1", 32)
}

// Seal encrypts next under a key derived from prev (AES-256-GCM, random
// nonce prepended), for a retry of prev within the grace window.
func Seal(prev, next string) ([]byte, error) {
	aead, err := aeadFor(prev)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(next), nil), nil
}

// Open recovers the successor sealed under prev.
func Open(prev string, sealed []byte) (string, error) {
	aead, err := aeadFor(prev)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("session: sealed successor too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("session: sealed successor does not open")
	}
	return string(plain), nil
}

func aeadFor(token string) (cipher.AEAD, error) {
	key, err := sealKey(token)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
