package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kairos-platform/identity/services/auth-api/internal/admin"
	"github.com/kairos-platform/identity/services/auth-api/internal/auth"
	"github.com/kairos-platform/identity/services/auth-api/internal/httpapi"
	"github.com/kairos-platform/identity/services/auth-api/internal/postgres"
)

// adminHandler is the admin API over the operators' service, or nil (the
// API is off) without tokens. Its revocations reach this replica's
// deny-list at once.
func adminHandler(cfg config, store *postgres.Store, svc *auth.Service, sess *sessions, logger *slog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	ops, err := admin.New(store, svc, admin.Options{Applied: sess.service.Applied, Logger: logger, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if len(cfg.AdminTokens) == 0 {
		logger.Info("ADMIN_API_TOKEN_FILE is unset: the admin API (/admin/v1/) is off; `auth-api admin` still works")
		return nil, nil
	}
	logger.Info("admin API on the admin port", "path", "/admin/v1/", "tokens", len(cfg.AdminTokens))
	return httpapi.NewAdmin(httpapi.AdminOptions{Admin: ops, Tokens: cfg.AdminTokens, Logger: logger, Registerer: reg})
}

const adminUsage = `usage: auth-api admin users list [--query Q] [--status unverified|verified|disabled] [--limit N] [--cursor C]
       auth-api admin users show|verify|resend-verification|disable|enable|unlock|sign-out|delete UID
       auth-api admin audit [--uid UID] [--action A] [--since 24h|RFC3339] [--limit N] [--cursor ID]
flags of every command: --actor NAME (default: the OS user) --json
`

// adminCommand is `auth-api admin …`: the admin API's actions on
// DATABASE_URL, for kubectl exec or a Job, through the same service.
func adminCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, rest, err := adminArgs(args)
	if err != nil {
		return err
	}
	cfg, err := loadAdminConfig(getenv)
	if err != nil {
		return err
	}
	actor := rest.actor
	if actor == "" {
		if u, err := user.Current(); err == nil {
			actor = u.Username
		}
	}
	if actor == "" {
		return errors.New("admin: --actor is required (no OS user to name)")
	}
	// stdout carries the answer (tables, --json), so no log lines: the
	// audit rows are the record of what the command did, and a terminal is
	// no log pipeline anyway.
	logger := slog.New(slog.DiscardHandler)
	pool, err := openPostgres(ctx, cfg.DatabaseURL, noop.NewTracerProvider(), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer pool.Close()
	store := postgres.New(pool).WithAuditLog(logger)
	accounts, err := auth.New(store, nil, auth.Config{VerifyURL: httpapi.VerifyURL(cfg.PublicURL), TokenTTL: cfg.TokenTTL,
		MaxLoginFailures: cfg.LoginMaxFailures, MailBudget: cfg.MailBudget, Logger: logger})
	if err != nil {
		return err
	}
	ops, err := admin.New(store, accounts, admin.Options{Logger: logger})
	if err != nil {
		return err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ctx = auth.WithActor(ctx, auth.Actor{Name: "cli:" + actor, RequestID: "cli-" + hex.EncodeToString(id)})
	return runAdmin(ctx, ops, cmd, rest, stdout)
}

// adminFlags are the parsed flags and arguments of one admin command.
type adminFlags struct {
	actor, query, status, cursor, uid, action, since string
	limit                                            int
	json                                             bool
	args                                             []string
}

// adminArgs parses "users <cmd> …" or "audit …"; flags may come before or
// after the UID.
func adminArgs(args []string) (string, adminFlags, error) {
	var f adminFlags
	usage := errors.New(strings.TrimSpace(adminUsage))
	if len(args) == 0 {
		return "", f, usage
	}
	cmd := args[0]
	args = args[1:]
	if cmd == "users" {
		if len(args) == 0 {
			return "", f, usage
		}
		cmd, args = args[0], args[1:]
	} else if cmd != "audit" {
		return "", f, usage
	}
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.actor, "actor", "", "")
	fs.StringVar(&f.query, "query", "", "")
	fs.StringVar(&f.status, "status", "", "")
	fs.StringVar(&f.cursor, "cursor", "", "")
	fs.StringVar(&f.uid, "uid", "", "")
	fs.StringVar(&f.action, "action", "", "")
	fs.StringVar(&f.since, "since", "", "")
	fs.IntVar(&f.limit, "limit", 0, "")
	fs.BoolVar(&f.json, "json", false, "")
	for {
		if err := fs.Parse(args); err != nil {
			return "", f, fmt.Errorf("admin: %v\n%s", err, adminUsage)
		}
		if fs.NArg() == 0 {
			break
		}
		f.args = append(f.args, fs.Arg(0))
		args = fs.Args()[1:]
	}
	want := 1
	if cmd == "list" || cmd == "audit" {
		want = 0
	}
	if _, ok := adminActions[cmd]; !ok && cmd != "list" && cmd != "show" && cmd != "audit" {
		return "", f, usage
	}
	if len(f.args) != want {
		return "", f, usage
	}
	return cmd, f, nil
}

// adminActions are the changes, with what they print when done.
var adminActions = map[string]struct {
	run  func(*admin.Service, context.Context, string) error
	done string
}{
	"verify":              {(*admin.Service).Verify, "verified"},
	"resend-verification": {(*admin.Service).ResendVerification, "verification link sent to"},
	"disable":             {(*admin.Service).Disable, "disabled (every session revoked)"},
	"enable":              {(*admin.Service).Enable, "enabled"},
	"unlock":              {(*admin.Service).Unlock, "login lockout cleared for"},
	"sign-out":            {(*admin.Service).SignOut, "every session revoked for"},
	"delete":              {(*admin.Service).Delete, "deleted"},
}

func runAdmin(ctx context.Context, ops *admin.Service, cmd string, f adminFlags, out io.Writer) error {
	switch cmd {
	case "list":
		flt := admin.Filter{Query: f.query, Status: f.status, Limit: f.limit}
		if f.cursor != "" {
			var err error
			if flt.After, err = admin.ParseCursor(f.cursor); err != nil {
				return cliError(err)
			}
		}
		page, err := ops.List(ctx, flt)
		if err != nil || f.json {
			return printJSON(out, page, err)
		}
		return printUsers(out, page)
	case "show":
		d, err := ops.Show(ctx, f.args[0])
		if err != nil || f.json {
			return printJSON(out, d, err)
		}
		return printDetail(out, d)
	case "audit":
		since, err := admin.Since(f.since, time.Now())
		if err != nil {
			return cliError(err)
		}
		var before int64
		if f.cursor != "" {
			if _, err := fmt.Sscan(f.cursor, &before); err != nil {
				return errors.New("admin: --cursor is the id of the last row shown")
			}
		}
		entries, err := ops.Audit(ctx, admin.AuditFilter{UID: f.uid, Action: f.action, Since: since, Before: before, Limit: f.limit})
		if err != nil || f.json {
			return printJSON(out, map[string]any{"entries": entries}, err)
		}
		return printAudit(out, entries)
	}
	act := adminActions[cmd]
	if err := act.run(ops, ctx, f.args[0]); err != nil {
		return cliError(err)
	}
	if f.json {
		return printJSON(out, map[string]string{"uid": f.args[0], "result": "ok"}, nil)
	}
	_, err := fmt.Fprintf(out, "%s %s\n", act.done, f.args[0])
	return err
}

// cliError says what the API's error table would, on one line.
func cliError(err error) error {
	if ve, ok := errors.AsType[*auth.ValidationError](err); ok {
		var parts []string
		for field, msgs := range ve.Fields {
			parts = append(parts, "--"+field+": "+strings.Join(msgs, " "))
		}
		return errors.New("admin: " + strings.Join(parts, "; "))
	}
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return errors.New("admin: no such user")
	case errors.Is(err, admin.ErrAlreadyVerified):
		return errors.New("admin: the user is verified already")
	}
	return err
}

func printJSON(out io.Writer, v any, err error) error {
	if err != nil {
		return cliError(err)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printUsers(out io.Writer, p admin.Page) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UID\tEMAIL\tUSERNAME\tSTATUS\tCREATED")
	for _, u := range p.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.UID, u.Email, u.Username, u.Status, u.CreatedAt.UTC().Format(time.RFC3339))
	}
	if p.Next != "" {
		fmt.Fprintf(tw, "(more: --cursor %s)\n", p.Next)
	}
	return tw.Flush()
}

func printDetail(out io.Writer, d admin.Detail) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	at := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "uid\t%s\nemail\t%s\nusername\t%s\nstatus\t%s\ncreated\t%s\nverified\t%s\ndisabled\t%s\n",
		d.UID, d.Email, d.Username, d.Status, d.CreatedAt.UTC().Format(time.RFC3339), at(d.VerifiedAt), at(d.DisabledAt))
	fmt.Fprintf(tw, "account failures\t%d\n", d.Lockout.AccountFailures)
	for _, s := range d.Lockout.Sources {
		fmt.Fprintf(tw, "source\t%s: %d failures, locked until %s\n", s.Source, s.Failures, at(s.LockedUntil))
	}
	fmt.Fprintf(tw, "\nSESSION\tLAST USED\tIP\tUSER AGENT\n")
	for _, s := range d.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.LastUsedAt.Format(time.RFC3339), s.IP, s.UserAgent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return printAudit(out, d.Audit)
}

func printAudit(out io.Writer, entries []auth.AuditEntry) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tTARGET\tOUTCOME")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.TargetUID, e.Outcome)
	}
	return tw.Flush()
}
