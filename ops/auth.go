package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// basicAuth guards handlers with one user:pass pair. The zero value (no
// credentials configured) lets every request through.
type basicAuth struct {
	// userHash and passHash are SHA-256 digests, so comparisons take the
	// same time whatever the lengths of the guesses.
	userHash, passHash [sha256.Size]byte
	enabled            bool
}

// newBasicAuth parses OPS_BASIC_AUTH ("user:pass"; empty disables).
func newBasicAuth(userPass string) (basicAuth, error) {
	if userPass == "" {
		return basicAuth{}, nil
	}
	user, pass, ok := strings.Cut(userPass, ":")
	if !ok || user == "" || pass == "" {
		return basicAuth{}, errors.New("ops: OPS_BASIC_AUTH: want user:pass")
	}
	return basicAuth{userHash: sha256.Sum256([]byte(user)), passHash: sha256.Sum256([]byte(pass)), enabled: true}, nil
}

// wrap returns next behind the credentials check: 401 with a
// WWW-Authenticate challenge unless the request carries them.
func (a basicAuth) wrap(next http.Handler) http.Handler {
	if !a.enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.allowed(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="hookworker", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a basicAuth) allowed(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	// Both comparisons always run: no early exit that reveals which failed.
	userOK := subtle.ConstantTimeCompare(u[:], a.userHash[:])
	passOK := subtle.ConstantTimeCompare(p[:], a.passHash[:])
	return userOK&passOK == 1
}
