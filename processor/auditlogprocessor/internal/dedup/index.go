package dedup

import "hash/maphash"

// index finds a remembered key's entry in the window's ring. It is an open
// addressing hash table of ring positions (linear probing, at most half
// full), which costs 4 to 8 bytes per remembered id where a Go map of
// 32-byte keys costs about 100 once entries come and go. Keys are compared
// in full, in the ring, so a match is exact. Deleting shifts the entries
// after the deleted one back, so no tombstones pile up. The hash is seeded
// per window: event ids come from outside and must not be able to pile up
// in one place of the table.
type index struct {
	seed  maphash.Seed
	slots []uint32 // ring position + 1; 0 is an empty slot
	mask  uint64
}

func newIndex() index { return index{seed: maphash.MakeSeed()} }

func (x *index) home(k *Key) uint64 { return maphash.Bytes(x.seed, k[:]) & x.mask }

// rebuild sizes the table for a ring of n slots and indexes the count
// entries that start at ring[start].
func (x *index) rebuild(ring []entry, start, count int) {
	size := 2
	for size < 2*len(ring) {
		size *= 2
	}
	x.slots = make([]uint32, size)
	x.mask = uint64(size - 1)
	for i := range count {
		pos := (start + i) % len(ring)
		x.insert(ring, pos)
	}
}

// find returns the ring position of k, or -1.
func (x *index) find(ring []entry, k *Key) int {
	if len(x.slots) == 0 {
		return -1
	}
	for i := x.home(k); ; i = (i + 1) & x.mask {
		s := x.slots[i]
		if s == 0 {
			return -1
		}
		if ring[s-1].key == *k {
			return int(s - 1)
		}
	}
}

// insert indexes the entry at ring position pos, which is not indexed yet.
func (x *index) insert(ring []entry, pos int) {
	i := x.home(&ring[pos].key)
	for x.slots[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = uint32(pos + 1)
}

// remove unindexes the entry at ring position pos, before its slot in the
// ring is cleared.
func (x *index) remove(ring []entry, pos int) {
	i := x.home(&ring[pos].key)
	for x.slots[i] != uint32(pos+1) {
		i = (i + 1) & x.mask
	}
	// Move back every later entry of the cluster whose home is not
	// between the hole and it, so each stays reachable from its home.
	for j := (i + 1) & x.mask; x.slots[j] != 0; j = (j + 1) & x.mask {
		h := x.home(&ring[x.slots[j]-1].key)
		if (j-h)&x.mask >= (j-i)&x.mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = 0
}

// clear empties the table, keeping its size.
func (x *index) clear() { clear(x.slots) }
