// Package auth holds the rules of signup, email verification and login. It
// declares what it needs from the outside (Store, PasswordHasher) and the
// errors its callers branch on.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/events"
)

// Account is a stored user.
type Account struct {
	UID          string
	Username     string
	Email        string
	PasswordHash string
	Verified     bool
	// Disabled by an operator: its logins fail as with a wrong password.
	Disabled bool
}

// Token is a verification token as stored: only the SHA-256 of the secret.
type Token struct {
	Hash      []byte
	ExpiresAt time.Time
}

// Reissue says what to write for an existing account, inside the store's
// transaction: a new token (revoking the account's older unused ones) and/or
// an outbox event. Zero means write nothing.
type Reissue struct {
	Token *Token
	// ResetToken, instead of Token, is a password reset token.
	ResetToken *Token
	Event      *events.Event
	// MailBudget, when positive, is how many emails Event's recipient may
	// be sent per hour: over it, nothing at all is written and the store
	// returns ErrOverBudget.
	MailBudget int
}

// TokenState is what the store knows about a verification token after
// trying to consume it.
type TokenState struct {
	Found     bool
	Consumed  bool // this call marked it used and the account verified
	Used      bool // it had been used before
	Revoked   bool
	ExpiresAt time.Time
}

// Store is the persistence auth needs. Every method that writes an event
// writes it to the outbox in the same transaction as the change.
type Store interface {
	// CreateAccount writes the account, its first token and ev at once, or
	// returns ErrDuplicateEmail when the email (in any letter case) is taken.
	CreateAccount(ctx context.Context, a Account, t Token, ev events.Event) error
	// Reissue locks the account with email (any letter case), calls decide
	// with it and writes what decide returns. ErrNotFound when there is
	// none, after the same amount of database work.
	Reissue(ctx context.Context, email string, decide func(Account) Reissue) error
	// ResetPassword, in one transaction, uses the live reset token with
	// this hash, sets the password hash, verifies the account, clears the
	// login lock of its address, revokes every session and writes the event
	// event(account) returns. ErrTokenInvalid when the token is not live.
	ResetPassword(ctx context.Context, hash []byte, passwordHash string, now time.Time, event func(Account) events.Event) error
	// AccountByEmail finds an account by email in any letter case, or ErrNotFound.
	AccountByEmail(ctx context.Context, email string) (Account, error)
	// ConsumeToken marks the unused, unrevoked, unexpired (at now) token with
	// this hash used and its account verified, and reports the token's state.
	ConsumeToken(ctx context.Context, hash []byte, now time.Time) (TokenState, error)
	// LoginThrottle returns the lock of (email, source) and the email's
	// account-wide count of untrusted failures.
	LoginThrottle(ctx context.Context, email, source string) (LoginThrottle, error)
	// RecordLoginFailure counts one more consecutive failure for (email,
	// source) and, when untrusted, for the email's account-wide count, in one
	// transaction with the notice (see LoginFailure). It returns both counts
	// (the account-wide one is 0 for a trusted source).
	RecordLoginFailure(ctx context.Context, f LoginFailure) (source, account int, err error)
	// LockLoginSource refuses logins from source for email until until.
	LockLoginSource(ctx context.Context, email, source string, until time.Time) error
	// ResetLoginFailures forgets the failures of (email, source) and the
	// account-wide count: the password was right.
	ResetLoginFailures(ctx context.Context, email, source string) error
	// ReplacePasswordHash swaps the hash of uid if it still is old.
	ReplacePasswordHash(ctx context.Context, uid, old, new string) error
}

// PasswordHasher hashes and checks passwords (internal/hashing). Verify with an
// empty encoded hash does a check's work against a dummy and fails.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
}

// Config is what the rules depend on.
type Config struct {
	// VerifyURL makes the link a verification email carries for a token;
	// where links point is the HTTP layer's business (httpapi.VerifyURL).
	VerifyURL func(token string) string
	TokenTTL  time.Duration // lifetime of a verification token
	// ResetURL makes the link of a password reset email for a token.
	ResetURL func(token string) string
	ResetTTL time.Duration // lifetime of a reset token
	// EmailConfirmURL makes the link of an email change confirmation.
	EmailConfirmURL func(token string) string
	EmailChangeTTL  time.Duration // lifetime of an email change link
	// MailBudget is the most emails a stranger can have sent to one address
	// per hour (resend, repeated signup, forgot password, email change).
	MailBudget       int
	MaxLoginFailures int // consecutive failures from one source before it is locked
	Now              func() time.Time
	Logger           *slog.Logger
	Registerer       prometheus.Registerer

	// MaxAccountFailures is the account-wide ceiling: consecutive failures
	// from untrusted sources after which only known devices may log in
	// (0: DefaultMaxAccountFailures).
	MaxAccountFailures int
	// SourcePrefixV4/V6 group client addresses into sources (0: /32, /64).
	SourcePrefixV4, SourcePrefixV6 int
}

// Lock backoff: the first lock lasts LockBase, each further failure after a
// lock doubles it, up to LockMax.
const (
	LockBase = time.Minute
	LockMax  = time.Hour
)

// settleTimeout bounds the writes that follow a hash once the client has
// gone (see settle).
const settleTimeout = 5 * time.Second

// settle detaches ctx from the request's cancellation: once a password has
// been hashed or checked, what follows (the failure count or its reset, a
// rehash, outbox rows) is written to the end even if the client hung up. A
// guess whose client left must still count, and the hash was the expensive
// part. While the client waits nothing changes; once it has gone the writes
// get settleTimeout more. The returned cancel must be called.
func settle(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(settleTimeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			cancel()
		}
	})
	return ctx, func() { stop(); cancel() }
}

// Service applies the rules.
type Service struct {
	store    Store
	accounts AccountStore // nil: no authenticated account changes
	hasher   PasswordHasher
	cfg      Config
	lockouts *prometheus.CounterVec
	// overBudget counts emails not sent for want of mail budget, by kind.
	overBudget *prometheus.CounterVec
}

// New returns a Service.
func New(store Store, hasher PasswordHasher, cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxLoginFailures < 1 {
		return nil, errors.New("auth: MaxLoginFailures must be at least 1")
	}
	if cfg.MaxAccountFailures == 0 {
		cfg.MaxAccountFailures = DefaultMaxAccountFailures
	}
	if cfg.MaxAccountFailures < 1 {
		return nil, errors.New("auth: MaxAccountFailures must be at least 1")
	}
	if cfg.VerifyURL == nil {
		return nil, errors.New("auth: VerifyURL is required")
	}
	if err := checkPrefixes(&cfg); err != nil {
		return nil, err
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = 30 * time.Minute
	}
	if cfg.EmailChangeTTL <= 0 {
		cfg.EmailChangeTTL = 24 * time.Hour
	}
	lockouts, err := newLockoutCounter(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	accounts, _ := store.(AccountStore) // the PostgreSQL store is both
	s := &Service{store: store, accounts: accounts, hasher: hasher, cfg: cfg, lockouts: lockouts,
		overBudget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kairos_mail_budget_exceeded_total",
			Help: "Emails not sent because their address had used its hourly mail budget, by kind.",
		}, []string{"kind"}),
	}
	for _, k := range budgetKinds {
		s.overBudget.WithLabelValues(k)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.overBudget); err != nil {
			return nil, fmt.Errorf("auth metrics: %w", err)
		}
	}
	return s, nil
}

// SignupResult tells the caller (for metrics only) whether the address was
// new. The API answers both cases identically.
type SignupResult struct {
	Duplicate bool
}

// Signup creates an account and queues its verification email. For an
// address that already has an account it creates nothing and instead queues
// a new verification link (unverified account) or a "somebody tried to sign
// up with your address" notice (verified account). Both cases hash the
// password, so they take the same time.
func (s *Service) Signup(ctx context.Context, in Signup) (SignupResult, error) {
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return SignupResult{}, err
	}
	ctx, cancel := settle(ctx)
	defer cancel()
	now := s.cfg.Now()
	secret, tok := s.newToken(now)
	acct := Account{UID: uuid.NewString(), Username: in.Username, Email: in.Email, PasswordHash: hash}
	err = s.store.CreateAccount(ctx, acct, tok, s.event(events.UserCreated, acct, secret, &tok, now))
	if !errors.Is(err, ErrDuplicateEmail) {
		return SignupResult{}, err
	}
	err = s.store.Reissue(ctx, in.Email, func(existing Account) Reissue {
		if existing.Verified {
			ev := s.event(events.SignupDuplicate, existing, "", nil, now)
			return Reissue{Event: &ev, MailBudget: s.cfg.MailBudget}
		}
		ev := s.event(events.VerificationRequested, existing, secret, &tok, now)
		return Reissue{Token: &tok, Event: &ev, MailBudget: s.cfg.MailBudget}
	})
	if err = s.budgetSpent(err, "signup"); err != nil {
		return SignupResult{}, fmt.Errorf("signup of an existing address: %w", err)
	}
	return SignupResult{Duplicate: true}, nil
}

// Resend queues a new verification link when email belongs to an unverified
// account, revoking its older links. It reports nothing about the account.
func (s *Service) Resend(ctx context.Context, email string) error {
	now := s.cfg.Now()
	secret, tok := s.newToken(now)
	err := s.store.Reissue(ctx, email, func(a Account) Reissue {
		if a.Verified {
			return Reissue{}
		}
		ev := s.event(events.VerificationRequested, a, secret, &tok, now)
		return Reissue{Token: &tok, Event: &ev, MailBudget: s.cfg.MailBudget}
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return s.budgetSpent(err, "resend")
}

// VerifyResult distinguishes a first verification from a repeated click.
type VerifyResult int

const (
	Verified        VerifyResult = iota + 1
	AlreadyVerified              // the token was used before, within its lifetime
)

// ErrTokenExpired is an ErrTokenInvalid, kept apart for metrics.
var ErrTokenExpired = fmt.Errorf("%w: expired", ErrTokenInvalid)

// Verify consumes a verification token. A token used before but still within
// its lifetime answers AlreadyVerified: mail scanners open links before
// people do, and the person's click must still succeed.
func (s *Service) Verify(ctx context.Context, secret string) (VerifyResult, error) {
	hash, err := TokenHash(secret)
	if err != nil {
		return 0, err
	}
	now := s.cfg.Now()
	st, err := s.store.ConsumeToken(ctx, hash, now)
	switch {
	case err != nil:
		return 0, err
	case st.Consumed:
		return Verified, nil
	case !st.Found:
		return 0, ErrTokenInvalid
	case !now.Before(st.ExpiresAt):
		return 0, ErrTokenExpired
	case st.Used:
		return AlreadyVerified, nil
	default: // revoked by a newer token
		return 0, ErrTokenInvalid
	}
}

// TokenHash parses the secret of a verification link — exactly tokenBytes in
// canonical unpadded base64url, so that one token has one spelling — and
// returns the SHA-256 that tokens are stored by, or ErrTokenInvalid.
func TokenHash(secret string) ([]byte, error) {
	// The length first: the decoder skips CR and LF even in strict mode, so
	// "ab\ncd" would be another spelling of "abcd" (found by FuzzTokenHash).
	if len(secret) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, ErrTokenInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(raw) != tokenBytes {
		return nil, ErrTokenInvalid
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// Login checks credentials and returns the account's uid. Unknown email and
// wrong password are the same ErrInvalidCredentials after the same hashing
// work; both count towards the lock of the attempt's source (lockout.go),
// kept whether or not an account exists, so a lock reveals nothing either.
// Admission under load is the caller's: httpapi takes a hashing reservation
// before it reads the body, so that a refusal costs no decoding and no
// database work.
func (s *Service) Login(ctx context.Context, in Login) (string, error) {
	key := NormalizeEmail(in.Email)
	now := s.cfg.Now()
	acct, err := s.store.AccountByEmail(ctx, in.Email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	source, trusted := s.source(in, acct)
	if err := s.checkLock(ctx, key, source, trusted, now); err != nil {
		return "", err
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, acct.PasswordHash)
	if err != nil {
		return "", err
	}
	ctx, cancel := settle(ctx)
	defer cancel()
	// A disabled account is told nothing else than a wrong password would
	// be, and counts towards the same lock.
	if !ok || acct.UID == "" || acct.Disabled {
		return "", s.fail(ctx, key, source, trusted, acct, now)
	}
	if err := s.store.ResetLoginFailures(ctx, key, source); err != nil {
		return "", err
	}
	if !acct.Verified {
		return "", ErrNotVerified
	}
	if rehash {
		s.rehash(ctx, acct, in.Password)
	}
	return acct.UID, nil
}

// LockDuration is the lock after the (extra+1)-th failure at or beyond the
// limit: 1 min, 2 min, 4 min, … up to 1 h.
func LockDuration(extra int) time.Duration {
	if extra < 0 {
		extra = 0
	}
	if extra > 6 { // 64 min already exceeds the cap; avoid overflowing the shift
		return LockMax
	}
	return min(LockBase<<extra, LockMax)
}

// rehash upgrades a hash made with weaker parameters. The login succeeds
// whatever happens here; a failure only means trying again next time.
func (s *Service) rehash(ctx context.Context, a Account, password string) {
	h, err := s.hasher.Hash(ctx, password)
	if err == nil {
		err = s.store.ReplacePasswordHash(ctx, a.UID, a.PasswordHash, h)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "password rehash failed; will retry on next login", "uid", a.UID, "error", err)
	}
}

const tokenBytes = 32

// newToken returns a fresh secret (32 random bytes, base64url) and its
// stored form.
func (s *Service) newToken(now time.Time) (string, Token) {
	return newSecret(now.Add(s.cfg.TokenTTL))
}

// newSecret returns a fresh secret (32 random bytes, base64url) expiring at
// exp, and its stored form.
func newSecret(exp time.Time) (string, Token) {
	raw := make([]byte, tokenBytes)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (Go 1.24+)
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), Token{Hash: sum[:], ExpiresAt: exp}
}

func (s *Service) event(typ string, a Account, secret string, tok *Token, now time.Time) events.Event {
	ev := events.Event{
		ID:         uuid.NewString(),
		Type:       typ,
		Version:    events.Version,
		OccurredAt: now.UTC(),
		User:       events.User{UID: a.UID, Username: a.Username, Email: a.Email},
	}
	if tok != nil {
		exp := tok.ExpiresAt.UTC()
		ev.VerifyURL = s.cfg.VerifyURL(secret)
		ev.VerifyExpiresAt = &exp
	}
	return ev
}
