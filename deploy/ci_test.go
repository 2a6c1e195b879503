package deploy_test

import (
	"regexp"
	"testing"
)

// .ci/run installs Debian's prometheus package for promtool and the e2e test; the daemon that
// package would start is the only one it may stop. A prometheus someone else runs on the
// machine (or a test's own) is none of its business.
func TestCIStopsOnlyItsOwnPrometheus(t *testing.T) {
	script := string(readFile(t, ".ci/run"))
	if m := regexp.MustCompile(`(?m)^[^#]*\b(pkill|killall)\b.*`).FindString(script); m != "" {
		t.Errorf(".ci/run kills processes by name: %s", m)
	}
	if !regexp.MustCompile(`policy-rc\.d`).MatchString(script) {
		t.Error(".ci/run no longer keeps the package's postinst from starting prometheus")
	}
}
