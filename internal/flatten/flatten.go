// Package flatten turns nested attribute values into single-level keys, the
// way the vendors' own syslog snippet does (Glassix's mapObjProprties):
// {initiatorUser: {id: 1}} becomes initiatorUser_id=1.
//
// The rules, which the auditlog processor's README documents for users:
//
//   - A nested map contributes one key per leaf, joined with the separator.
//   - A list contributes one key per element, named by its index
//     (tags: [a, b] becomes tags_0=a, tags_1=b), as JavaScript's
//     Object.entries does for arrays.
//   - An empty map or an empty list becomes one key with an empty string
//     value, so the fact that the field was present is not lost.
//   - A null (empty) value stays a key with an empty value.
//   - Below MaxDepth levels of nesting, the rest of the subtree is kept as
//     one key holding its JSON text, so hostile nesting costs bounded work.
//   - When a produced key already exists (a literal "a_b" beside a nested
//     a.b), the key produced later gets the first free suffix "_2", "_3", ...
//     Keys are produced in the order of the input, so the result is stable.
package flatten // import "github.com/otelcol-audit/otelcol-audit/internal/flatten"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// DefaultSeparator joins the keys of nested values.
const DefaultSeparator = "_"

// DefaultMaxDepth is the nesting depth below which a subtree is kept as JSON.
const DefaultMaxDepth = 16

// Options controls flattening. The zero value uses the defaults.
type Options struct {
	Separator string
	MaxDepth  int
	// Spare is room InPlace leaves in the flat map for entries its caller
	// adds next, so adding them does not grow (copy) the map again.
	Spare int
}

func (o Options) withDefaults() Options {
	if o.Separator == "" {
		o.Separator = DefaultSeparator
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}

// IsFlat reports whether m holds no map or list values.
func IsFlat(m pcommon.Map) bool {
	flat := true
	m.Range(func(_ string, v pcommon.Value) bool {
		if t := v.Type(); t == pcommon.ValueTypeMap || t == pcommon.ValueTypeSlice {
			flat = false
		}
		return flat
	})
	return flat
}

// InPlace flattens m. It does nothing, and allocates nothing, when m is
// already flat.
func InPlace(m pcommon.Map, opts Options) {
	if IsFlat(m) {
		return
	}
	out := pcommon.NewMap()
	// Sized once: the map is not copied again and again as it grows.
	out.EnsureCapacity(leaves(m, opts.withDefaults().MaxDepth, 1) + max(opts.Spare, 0))
	// m's old entries are dropped right after: leaves move instead of
	// being copied.
	into(out, m, opts, true)
	out.MoveTo(m)
}

// Into adds the flattened entries of src to dst. src is not modified. Keys
// already present in dst count as taken (see the collision rule).
func Into(dst, src pcommon.Map, opts Options) {
	into(dst, src, opts, false)
}

func into(dst, src pcommon.Map, opts Options, move bool) {
	opts = opts.withDefaults()
	dst.EnsureCapacity(dst.Len() + src.Len())
	f := flattener{dst: dst, opts: opts, move: move}
	src.Range(func(k string, v pcommon.Value) bool {
		f.value(k, v, 1)
		return true
	})
}

// leaves counts the entries flattening m gives (before collisions, which
// do not change the count).
func leaves(m pcommon.Map, maxDepth, depth int) int {
	n := 0
	m.Range(func(_ string, v pcommon.Value) bool {
		n += leavesOf(v, maxDepth, depth)
		return true
	})
	return n
}

func leavesOf(v pcommon.Value, maxDepth, depth int) int {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		if m := v.Map(); m.Len() > 0 && depth < maxDepth {
			return leaves(m, maxDepth, depth+1)
		}
	case pcommon.ValueTypeSlice:
		if s := v.Slice(); s.Len() > 0 && depth < maxDepth {
			n := 0
			for i := 0; i < s.Len(); i++ {
				n += leavesOf(s.At(i), maxDepth, depth+1)
			}
			return n
		}
	}
	return 1
}

type flattener struct {
	dst  pcommon.Map
	opts Options
	// move takes leaf values out of the source instead of copying them.
	move bool
	// taken indexes dst's keys once dst is large, since pcommon.Map looks
	// keys up by a linear scan.
	taken map[string]struct{}
}

// linearLimit is the size of dst up to which a linear scan beats a Go map.
const linearLimit = 32

func (f *flattener) value(key string, v pcommon.Value, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		m := v.Map()
		if m.Len() == 0 {
			f.put(key).SetStr("")
			return
		}
		if depth >= f.opts.MaxDepth {
			f.put(key).SetStr(v.AsString())
			return
		}
		prefix := key + f.opts.Separator
		m.Range(func(k string, child pcommon.Value) bool {
			f.value(prefix+k, child, depth+1)
			return true
		})
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		if s.Len() == 0 {
			f.put(key).SetStr("")
			return
		}
		if depth >= f.opts.MaxDepth {
			f.put(key).SetStr(v.AsString())
			return
		}
		prefix := key + f.opts.Separator
		for i := 0; i < s.Len(); i++ {
			f.value(prefix+strconv.Itoa(i), s.At(i), depth+1)
		}
	default:
		if f.move {
			v.MoveTo(f.put(key))
		} else {
			v.CopyTo(f.put(key))
		}
	}
}

// put returns a new value under key, or under the first free suffixed key
// when key is taken.
func (f *flattener) put(key string) pcommon.Value {
	for n := 1; ; n++ {
		k := key
		if n > 1 {
			k = key + f.opts.Separator + strconv.Itoa(n)
		}
		if !f.isTaken(k) {
			if f.taken != nil {
				f.taken[k] = struct{}{}
			}
			return f.dst.PutEmpty(k)
		}
	}
}

func (f *flattener) isTaken(k string) bool {
	if f.taken == nil && f.dst.Len() > linearLimit {
		f.taken = make(map[string]struct{}, 2*f.dst.Len())
		f.dst.Range(func(k string, _ pcommon.Value) bool {
			f.taken[k] = struct{}{}
			return true
		})
	}
	if f.taken != nil {
		_, ok := f.taken[k]
		return ok
	}
	_, ok := f.dst.Get(k)
	return ok
}
