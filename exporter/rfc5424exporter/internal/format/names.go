package format

import "strconv"

// nameSet turns attribute names into PARAM-NAMEs that are valid and unique
// within one SD element. A valid name is kept as it is. Otherwise every
// character that is not allowed becomes '_' and the name is cut to 32
// characters (an empty name becomes "_"). A name already used in the
// element gets the first free suffix "_2", "_3", ..., cutting the name so
// the result still fits 32 characters: the same collision rule as
// internal/flatten, so the rules users read stay one.
type nameSet struct {
	used []string
	set  map[string]struct{} // for large elements, where a scan would be quadratic
}

const nameSetLinear = 32

func newNameSet(n int) nameSet {
	if n > nameSetLinear {
		return nameSet{set: make(map[string]struct{}, n)}
	}
	return nameSet{used: make([]string, 0, n)}
}

func (s *nameSet) has(name string) bool {
	if s.set != nil {
		_, ok := s.set[name]
		return ok
	}
	for _, u := range s.used {
		if u == name {
			return true
		}
	}
	return false
}

func (s *nameSet) add(name string) {
	if s.set != nil {
		s.set[name] = struct{}{}
		return
	}
	s.used = append(s.used, name)
}

// claim returns the PARAM-NAME for attribute name k and marks it used.
func (s *nameSet) claim(k string) string {
	name := sanitizeName(k)
	if !s.has(name) {
		s.add(name)
		return name
	}
	for n := 2; ; n++ {
		suffix := "_" + strconv.Itoa(n)
		base := name
		if len(base)+len(suffix) > MaxSDNameLen {
			base = base[:MaxSDNameLen-len(suffix)]
		}
		if c := base + suffix; !s.has(c) {
			s.add(c)
			return c
		}
	}
}

func sanitizeName(k string) string {
	if k != "" && len(k) <= MaxSDNameLen {
		valid := true
		for i := 0; i < len(k); i++ {
			if !sdNameChar(k[i]) {
				valid = false
				break
			}
		}
		if valid {
			return k
		}
	}
	if k == "" {
		return "_"
	}
	b := make([]byte, 0, min(len(k), MaxSDNameLen))
	for _, r := range k { // one '_' per character, not per octet
		if len(b) == MaxSDNameLen {
			break
		}
		if r < 128 && sdNameChar(byte(r)) {
			b = append(b, byte(r))
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}
