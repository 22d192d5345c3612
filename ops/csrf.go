package ops

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// csrfCookie and csrfField carry the console forms' token.
const (
	csrfCookie = "hw_csrf"
	csrfField  = "csrf"
)

// csrf is a signed double-submit token: a random cookie, and a form field
// holding the cookie's HMAC under a server key. A page on another site can
// make a browser send the cookie but can neither read it nor compute the
// field. The key derives from OPS_BASIC_AUTH, so every worker behind one
// address accepts the others' forms; without credentials it is random per
// process (a form from before a restart must be reloaded).
type csrf struct{ key []byte }

func newCSRF(basicAuth string) csrf {
	if basicAuth != "" {
		k := sha256.Sum256([]byte("hookworker console csrf\x00" + basicAuth))
		return csrf{key: k[:]}
	}
	k := make([]byte, 32)
	rand.Read(k) //nolint:errcheck // crypto/rand.Read never fails
	return csrf{key: k}
}

func (c csrf) sign(cookie string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(cookie))
	return hex.EncodeToString(m.Sum(nil))
}

// token returns the form field for the request's cookie, setting a new
// cookie on w when the request has none.
func (c csrf) token(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 32 {
		return c.sign(ck.Value)
	}
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	v := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.sign(v)
}

// valid reports whether a form post carries a cookie and its signature.
func (c csrf) valid(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(c.sign(ck.Value)))
}
