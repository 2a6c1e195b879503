package main

import (
	"strings"
	"testing"
)

// The logged config shows no secret.
func TestConfigStringMasksSecrets(t *testing.T) {
	env := map[string]string{
		"NATS_URL": "nats://natsuser:natspw@nats:4222", "SMTP_USERNAME": "smtpuser", "SMTP_PASSWORD": "smtppw",
		"AGENT_BASE_URL": "https://agentuser:agentpw@agent.example.com", "AGENT_SERVICE_TOKEN": "agenttoken",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"natsuser", "natspw", "smtpuser", "smtppw", "agentuser", "agentpw", "agenttoken"} {
		if strings.Contains(s, secret) {
			t.Errorf("config string shows %s: %s", secret, s)
		}
	}
	if !strings.Contains(s, "agent.example.com") || !strings.Contains(s, "nats:4222") {
		t.Errorf("config string hides the hosts: %s", s)
	}
}
