package postgres

//go:generate python3 saslprep_gen.py

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// saslprep normalises a password as PostgreSQL does before it hashes it
// for SCRAM (src/common/saslprep.c): SASLprep, the stringprep profile of
// RFC 4013. ASCII is left as it is (control characters included); other
// text has non-ASCII spaces mapped to a space, the characters "commonly
// mapped to nothing" removed, and is normalised to NFKC. When the result
// would be refused (prohibited or unassigned characters, right-to-left
// text mixed wrongly, nothing left) or the password is not UTF-8,
// PostgreSQL hashes the password's bytes as they are, and so does this.
func saslprep(password string) string {
	ascii := true
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || !utf8.ValidString(password) {
		return password
	}
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case unicode.Is(nonASCIISpace, r):
			mapped = append(mapped, ' ')
		case unicode.Is(mappedToNothing, r):
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}
	out := []rune(norm.NFKC.String(string(mapped)))
	randAL := false
	for _, r := range out {
		if unicode.Is(prohibitedOutput, r) || unicode.Is(unassigned, r) {
			return password
		}
		randAL = randAL || unicode.Is(randALCat, r)
	}
	if randAL {
		for _, r := range out {
			if unicode.Is(lCat, r) {
				return password
			}
		}
		if !unicode.Is(randALCat, out[0]) || !unicode.Is(randALCat, out[len(out)-1]) {
			return password
		}
	}
	return string(out)
}
