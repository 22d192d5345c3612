package config

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzConfigLoad sets two variables to arbitrary values and checks that Load
// never panics, that every error starts with "config: <NAME>:" naming one of
// the variables set, and that an error never repeats the value of a
// variable that may hold credentials, nor the password of such a URL.
// Seeds live in testdata/fuzz/FuzzConfigLoad too.
func FuzzConfigLoad(f *testing.F) {
	variables := Variables()
	secret := func(name string) bool {
		return name == "REDIS_URL" || name == "DATABASE_URL" || name == "SMTP_URL" || name == "OPS_BASIC_AUTH" || name == "INGEST_TOKENS"
	}
	f.Add(uint8(0), "redis://:hunter2hunter2@127.0.0.1:6379/0", uint8(2), "postgres://u:pw@db/x")
	f.Add(uint8(0), "redis://:hunter2hunter2@host:notaport/0", uint8(9), "0")
	f.Add(uint8(3), "smtps://user:p%zzassword@mail:465", uint8(7), "admin")
	f.Add(uint8(14), "10.0.0.0/8, ::1, fd00::/8,", uint8(10), "-1s")
	f.Add(uint8(4), "not an address", uint8(5), "ftp://x")
	f.Add(uint8(23), "99999999999999999999", uint8(20), "1h1m")
	f.Fuzz(func(t *testing.T, i uint8, v string, j uint8, w string) {
		env := map[string]string{}
		a := variables[int(i)%len(variables)]
		b := variables[int(j)%len(variables)]
		env[a] = v
		env[b] = w // may replace a
		c, err := loadMap(env)
		if err == nil {
			if c.WorkerConcurrency < 1 || c.WebhookTimeout <= 0 || c.MaxPayloadBytes < 1024 {
				t.Fatalf("Load accepted an unusable configuration: %+v", c)
			}
			return
		}
		msg := err.Error()
		named := false
		for name := range env {
			if strings.HasPrefix(msg, "config: "+name+": ") {
				named = true
			}
		}
		if !named {
			t.Fatalf("error %q does not name %s or %s", msg, a, b)
		}
		for name, value := range env {
			if !secret(name) || !strings.HasPrefix(msg, "config: "+name+": ") {
				continue // only the error about a variable can repeat its value
			}
			value = strings.TrimSpace(value)
			if strings.Contains(value, "@") && strings.Contains(msg, value) {
				t.Fatalf("error %q repeats the value of %s", msg, name)
			}
			u, perr := url.Parse(value)
			if perr != nil || u.User == nil {
				continue
			}
			pw, ok := u.User.Password()
			if !ok || len(pw) < 4 || !strings.Contains(msg, pw) {
				continue
			}
			// The password may also occur in the message's fixed text or an
			// echoed scheme: it leaks only if the error with another
			// password of the same length does not contain it.
			alt := map[string]string{}
			for k, x := range env {
				alt[k] = x
			}
			alt[name] = strings.ReplaceAll(value, pw, strings.Repeat("Q", len(pw)))
			if _, altErr := loadMap(alt); altErr == nil || !strings.Contains(altErr.Error(), pw) {
				t.Fatalf("error %q repeats the password of %s", msg, name)
			}
		}
	})
}

// loadMap runs Load on a map of variables.
func loadMap(env map[string]string) (Config, error) {
	return Load(func(k string) string { return env[k] })
}
