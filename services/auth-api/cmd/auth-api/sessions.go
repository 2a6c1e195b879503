package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kairos-platform/identity/pkg/events"

	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
	"github.com/kairos-platform/identity/services/auth-api/internal/revocation"
	"github.com/kairos-platform/identity/services/auth-api/internal/session"
	"github.com/kairos-platform/identity/services/auth-api/internal/tokens"
)

// Fixed tunings of the session machinery (docs/sessions.md).
const (
	// tokenLeeway tolerates clock skew between replicas on exp, nbf and iat.
	tokenLeeway = 5 * time.Second
	// signingGap bounds the time between a refresh's commit and the signing
	// of its access token; a deny-list entry is held this much longer.
	signingGap = time.Minute
	// feedMaxLag: a replica whose revocation feed has been silent this long
	// asks PostgreSQL instead of trusting its deny-list alone.
	feedMaxLag = 3 * time.Second
	// feedPoll is how long one fetch of the feed waits. A fetch proves the
	// list current as of its start, so a healthy feed's lag peaks at about
	// two polls: 1 s, well under feedMaxLag.
	feedPoll = 500 * time.Millisecond
	// endedSessionsKept: revoked and expired sessions stay listed this
	// long before the cleanup deletes them (and their refresh tokens).
	endedSessionsKept = 24 * time.Hour
)

// sessions is one replica's session machinery: the token authority, the
// deny-list fed by the revocation feed, the session rules and the checker
// every bearer endpoint and the ingress check go through.
type sessions struct {
	authority *tokens.Authority
	list      *revocation.List
	service   *session.Service
	checker   *revocation.Checker
	follower  *revocation.Follower
}

func newSessions(cfg config, store *postgres.Store, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*sessions, error) {
	sc := cfg.Sessions
	authority := tokens.NewAuthority(sc.Keys, tokens.Config{
		Issuer: cfg.PublicURL, Audience: sc.Audience, TTL: sc.AccessTTL, Leeway: tokenLeeway,
		VerifiedCache: tokens.DefaultVerifiedCache,
	}, time.Now)
	list := revocation.New(sc.AccessTTL + tokenLeeway + signingGap)
	if err := revocation.RegisterMetrics(reg, list, time.Now); err != nil {
		return nil, err
	}
	return &sessions{
		authority: authority,
		list:      list,
		service: &session.Service{Store: store, Issuer: authority,
			Config: session.Config{RefreshTTL: sc.RefreshTTL, MaxAge: sc.MaxAge, ReuseGrace: sc.ReuseGrace, AccessTTL: sc.AccessTTL},
			// The replica that revoked denies at once; the others hear it
			// from the SESSIONS stream.
			Applied: func(r events.Revocation) { list.Apply(r, time.Now()) },
		},
		checker:  &revocation.Checker{Tokens: authority, List: list, DB: store, MaxLag: feedMaxLag, Now: time.Now},
		follower: &revocation.Follower{JS: js, List: list, Log: logger, Now: time.Now, Poll: feedPoll, Replicas: cfg.StreamReplicas},
	}, nil
}

// replayed is the readiness check: a replica serves only after its feed has
// replayed the revocations that can still matter. A later outage does not
// make it unready (the checker then asks PostgreSQL): a NATS outage must
// not take every replica out of its Service.
func (s *sessions) replayed(context.Context) error {
	if s.list.LastHeard().IsZero() {
		return errors.New("revocation feed not replayed yet")
	}
	return nil
}
