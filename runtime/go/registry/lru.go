package registry

import (
	"container/list"
	"sync"
	"time"
)

// lru holds at most max values (none when max is 0), dropping the least
// recently used first; with a ttl, a value older than that is a miss.
type lru[K comparable, V any] struct {
	mu        sync.Mutex
	max       int
	ttl       time.Duration
	now       func() time.Time
	order     *list.List // front: most recently used
	entries   map[K]*list.Element
	evictions int
}

type lruEntry[K comparable, V any] struct {
	key   K
	value V
	at    time.Time
}

func newLRU[K comparable, V any](max int, ttl time.Duration) *lru[K, V] {
	return &lru[K, V]{max: max, ttl: ttl, now: time.Now, order: list.New(), entries: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	entry := el.Value.(*lruEntry[K, V])
	if c.ttl > 0 && c.now().Sub(entry.at) >= c.ttl {
		c.order.Remove(el)
		delete(c.entries, key)
		return zero, false
	}
	c.order.MoveToFront(el)
	return entry.value, true
}

func (c *lru[K, V]) put(key K, value V) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value = &lruEntry[K, V]{key, value, c.now()}
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(&lruEntry[K, V]{key, value, c.now()})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*lruEntry[K, V]).key)
		c.evictions++
	}
}

func (c *lru[K, V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.entries = map[K]*list.Element{}
}

func (c *lru[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
