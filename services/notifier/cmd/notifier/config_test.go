package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The logged config shows no secret.
func TestConfigStringMasksSecrets(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "nats-password")
	if err := os.WriteFile(pw, []byte("natsfilepw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NATS_USER": "notifier", "NATS_PASSWORD_FILE": pw,
		"NATS_URL": "nats://natsuser:natspw@nats:4222", "SMTP_USERNAME": "smtpuser", "SMTP_PASSWORD": "smtppw",
		"AGENT_BASE_URL": "https://agentuser:agentpw@agent.example.com", "AGENT_SERVICE_TOKEN": "agenttoken",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"natsuser", "natspw", "natsfilepw", "smtpuser", "smtppw", "agentuser", "agentpw", "agenttoken"} {
		if strings.Contains(s, secret) {
			t.Errorf("config string shows %s: %s", secret, s)
		}
	}
	if !strings.Contains(s, "agent.example.com") || !strings.Contains(s, "nats:4222") {
		t.Errorf("config string hides the hosts: %s", s)
	}
}
