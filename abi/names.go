package abi

// The grammar of names, ABI.md section 3.1. It is written here once, for the
// host (which checks names given by guests and by API clients) and for
// anything else that wants to check a name before sending it.

// MaxNameLen is the longest name of a workflow, step, effect, timer or
// signal, in bytes.
const MaxNameLen = 256

// MaxModuleNameLen is the longest module name or module version, in bytes.
const MaxModuleNameLen = 128

// NameError says why a string is not a valid name. Its message completes a
// sentence that begins with what the name is for ("workflow name ...").
type NameError struct {
	Reason string
}

func (e *NameError) Error() string { return e.Reason }

// CheckName returns nil when s is a valid name of a workflow, step, effect,
// timer or signal: 1 to MaxNameLen bytes of valid UTF-8 with no control
// character (U+0000 to U+001F, U+007F to U+009F). Otherwise it returns a
// *NameError that says what is wrong.
func CheckName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return &NameError{Reason: "must be 1 to " + itoa(MaxNameLen) + " bytes, got " + itoa(len(s))}
	}
	for i, r := range s {
		// A byte that is not UTF-8 decodes as U+FFFD one byte wide; a real
		// U+FFFD is three bytes.
		if r == '\uFFFD' && (len(s) < i+3 || s[i:i+3] != "\uFFFD") {
			return &NameError{Reason: "is not valid UTF-8 (byte " + itoa(i) + ")"}
		}
		if r < 0x20 || (r >= 0x7F && r <= 0x9F) {
			return &NameError{Reason: "must not contain control characters (byte " + itoa(i) + ")"}
		}
	}
	return nil
}

// CheckModuleName returns nil when s is a valid module name or module
// version: 1 to MaxModuleNameLen bytes of ASCII letters, digits, '.', '_'
// and '-', beginning with a letter or a digit, with no ".." and no '.' at
// the end (so a name is always safe as one component of a path or a URL).
// It is the regular expression
//
//	^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$
//
// with at most MaxModuleNameLen bytes. Otherwise it returns a *NameError
// that says what is wrong.
func CheckModuleName(s string) error {
	const allowed = "ASCII letters, digits, '.', '_' and '-'"
	if len(s) == 0 || len(s) > MaxModuleNameLen {
		return &NameError{Reason: "must be 1 to " + itoa(MaxModuleNameLen) + " bytes of " + allowed + ", got " + itoa(len(s)) + " bytes"}
	}
	if !isAlnum(s[0]) {
		return &NameError{Reason: "must begin with an ASCII letter or digit"}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || c == '_' || c == '-':
		case c == '.':
			if i+1 == len(s) || s[i+1] == '.' {
				return &NameError{Reason: "must not contain \"..\" nor end with '.'"}
			}
		default:
			return &NameError{Reason: "may hold only " + allowed + " (byte " + itoa(i) + " is not one)"}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// itoa formats a non-negative int; the package imports nothing.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
