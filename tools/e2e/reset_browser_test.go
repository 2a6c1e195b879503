package e2e_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

var resetLink = regexp.MustCompile(`https?://[^\s"<>]+/reset-password\?token=[A-Za-z0-9_-]{43}`)

// TestResetPasswordInBrowser is the README's recovery walk with a real
// browser on auth-api's own page: forgot → the emailed link opened in
// headless Chromium → the form filled and submitted without JavaScript →
// the new password logs in. Screenshots of the form and the outcome are
// kept as PNG in the test's artifact directory (go test -artifacts).
func TestResetPasswordInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, stack.Options{Log: testLog{t}})
	if err != nil {
		t.Fatalf("start the services: %v", err)
	}
	t.Cleanup(s.Close)
	api := s.Auth[0].URL()
	const email, oldPassword, newPassword = "forgetful@example.com", "a-walk-in-the-park-42", "brand-new-and-long-7"

	expectStatus(t, post(t, api+"/api/signup/", map[string]string{"username": "forgetful", "email": email, "password": oldPassword}), http.StatusOK, "signup")
	expectStatus(t, get(t, api+"/api/verify/"+waitForToken(ctx, t, s.SMTP, email)+"/"), http.StatusOK, "verify")
	expectStatus(t, post(t, api+"/api/password/forgot/", map[string]string{"email": email}), http.StatusOK, "forgot")
	// The stack's PUBLIC_URL names no host; the link's path and query go to
	// the replica's real address.
	link := waitForResetLink(ctx, t, s.SMTP, email)
	link = api + link[strings.Index(link, "/reset-password"):]

	dir := t.ArtifactDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(800, 700),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	_, err = chromedp.Run(bctx, chromedp.Navigate(link))
	step("open the emailed link", err)
	_, err = chromedp.Run(bctx, chromedp.WaitVisible(`#password`))
	step("the form", err)
	_, err = chromedp.Run(bctx, chromedp.SendKeys(`#password`, newPassword))
	step("type the password", err)
	_, err = chromedp.Run(bctx, chromedp.SendKeys(`#password2`, newPassword))
	step("type it again", err)
	form, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	step("screenshot the form", err)
	_, err = chromedp.Run(bctx, chromedp.Click(`button[type=submit]`))
	step("submit", err)
	_, err = chromedp.Run(bctx, chromedp.WaitVisible(`[role=status]`))
	step("the outcome", err)
	heading, err := chromedp.Run(bctx, chromedp.Text(`h1`))
	step("read the heading", err)
	status, err := chromedp.Run(bctx, chromedp.Text(`[role=status]`))
	step("read the outcome", err)
	outcome, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	step("screenshot the outcome", err)
	for name, img := range map[string][]byte{"reset-form.png": form, "reset-done.png": outcome} {
		if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	if heading != "Password changed" || !strings.Contains(status, "Password reset.") {
		t.Fatalf("outcome page: %q / %q", heading, status)
	}
	expectStatus(t, post(t, api+"/api/login/", map[string]string{"email": email, "password": newPassword}), http.StatusOK, "login with the new password")
	expectStatus(t, post(t, api+"/api/login/", map[string]string{"email": email, "password": oldPassword}), http.StatusUnauthorized, "login with the old password")
}

// waitForResetLink returns the reset link of the email sent to addr.
func waitForResetLink(ctx context.Context, t *testing.T, sink *smtptest.Server, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		msgs, err := sink.WaitFor(ctx, n)
		if err != nil {
			t.Fatalf("no reset email for %s: %v", addr, err)
		}
		m := msgs[n-1]
		if !slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, addr) }) {
			continue
		}
		if link := resetLink.FindString(m.Text); link != "" {
			return link
		}
	}
}
