package deploy_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docFiles are what a user reads: the README, docs/, the chart's README and values files.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "deploy/helm/kairos-auth/README.md"}
	for _, pattern := range []string{"../docs/*.md", "../deploy/helm/kairos-auth/values*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			files = append(files, strings.TrimPrefix(f, "../"))
		}
	}
	return files
}

// Docs describe the system, not its history: no issue numbers, no who-did-what.
// ("Session" alone is a product word: login sessions.)
func TestDocsTellNoHistory(t *testing.T) {
	history := regexp.MustCompile(`(?i)\bissue \d+|(^|[\s(])#\d+\b|\b(?:work|helper|coding|earlier|previous|next|last|this|a later) sessions?\b|\bphase \d\b|\bwave\b|\bthe lead\b`)
	for _, f := range docFiles(t) {
		for i, line := range strings.Split(string(readFile(t, f)), "\n") {
			if m := history.FindString(line); m != "" {
				t.Errorf("%s:%d refers to the project's history (%q): %s", f, i+1, strings.TrimSpace(m), line)
			}
		}
	}
}

// The chart README and values-prod.yaml give the same install: the namespace created beforehand
// (with its Pod Security label), and a copy of the values file, never the chart's own.
func TestProductionInstallIsTheSameEverywhere(t *testing.T) {
	for _, f := range []string{"README.md", "deploy/helm/kairos-auth/README.md", "deploy/helm/kairos-auth/values-prod.yaml"} {
		doc := string(readFile(t, f))
		if strings.Contains(doc, "--create-namespace") {
			t.Errorf("%s: --create-namespace (the namespace is created beforehand, with its label)", f)
		}
		if !strings.Contains(doc, "cp deploy/helm/kairos-auth/values-prod.yaml kairos-values.yaml") || !strings.Contains(doc, "-f kairos-values.yaml") {
			t.Errorf("%s: does not install from a copy of values-prod.yaml", f)
		}
		if strings.Contains(doc, "-f deploy/helm/kairos-auth/values-prod.yaml") {
			t.Errorf("%s: installs with the chart's own values-prod.yaml", f)
		}
	}
}
