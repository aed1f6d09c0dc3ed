package postgres

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is PostgreSQL's default iteration count (scram_iterations).
const scramIterations = 4096

// Stored password kinds, as a change shows them.
const (
	kindNone  = ""
	kindSCRAM = "scram-sha-256"
	kindMD5   = "md5"
	kindOther = "unknown format"
)

// passwordMatches reports what kind of verifier stored is (pg_authid's
// rolpassword) and whether password is the one it was made from, without
// revealing either: it recomputes the verifier from the password and the
// stored salt and compares in constant time.
func passwordMatches(stored, password, role string) (kind string, ok bool) {
	switch {
	case stored == "":
		return kindNone, false
	case strings.HasPrefix(stored, "SCRAM-SHA-256$"):
		iter, salt, storedKey, serverKey, err := parseSCRAM(stored)
		if err != nil {
			return kindOther, false
		}
		sk, svk, err := scramKeys(password, salt, iter)
		if err != nil {
			return kindSCRAM, false
		}
		return kindSCRAM, subtle.ConstantTimeCompare(sk, storedKey) == 1 && subtle.ConstantTimeCompare(svk, serverKey) == 1
	case strings.HasPrefix(stored, "md5") && len(stored) == 35:
		sum := md5.Sum([]byte(password + role))
		return kindMD5, subtle.ConstantTimeCompare([]byte("md5"+hex.EncodeToString(sum[:])), []byte(stored)) == 1
	default:
		return kindOther, false
	}
}

// parseSCRAM splits SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func parseSCRAM(v string) (iter int, salt, storedKey, serverKey []byte, err error) {
	bad := fmt.Errorf("not a SCRAM-SHA-256 verifier")
	rest, ok := strings.CutPrefix(v, "SCRAM-SHA-256$")
	if !ok {
		return 0, nil, nil, nil, bad
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return 0, nil, nil, nil, bad
	}
	is, ss, ok1 := strings.Cut(params, ":")
	ks, vs, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return 0, nil, nil, nil, bad
	}
	if iter, err = strconv.Atoi(is); err != nil || iter < 1 {
		return 0, nil, nil, nil, bad
	}
	b64 := base64.StdEncoding
	if salt, err = b64.DecodeString(ss); err != nil {
		return 0, nil, nil, nil, bad
	}
	if storedKey, err = b64.DecodeString(ks); err != nil {
		return 0, nil, nil, nil, bad
	}
	if serverKey, err = b64.DecodeString(vs); err != nil {
		return 0, nil, nil, nil, bad
	}
	return iter, salt, storedKey, serverKey, nil
}

// scramKeys derives StoredKey and ServerKey (RFC 5802) from a password,
// first normalised with SASLprep as PostgreSQL does (see saslprep).
func scramKeys(password string, salt []byte, iter int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, saslprep(password), salt, iter, sha256.Size)
	if err != nil {
		return nil, nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	client := sha256.Sum256(mac(salted, "Client Key"))
	return client[:], mac(salted, "Server Key"), nil
}

// scramVerifier makes a SCRAM-SHA-256 verifier of password with a random
// salt, as psql's \password does: the server stores it as given, so the
// password itself never reaches the server (nor its logs).
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return verifierWithSalt(password, salt, scramIterations)
}

func verifierWithSalt(password string, salt []byte, iter int) (string, error) {
	sk, svk, err := scramKeys(password, salt, iter)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(sk), b64(svk)), nil
}
