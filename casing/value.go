package casing

import (
	"maps"
	"slices"
)

// ToSnake converts the keys of a decoded JSON value with SnakeKey, recursively through objects and arrays, and
// returns a new value: the input is not changed and the output shares none of the maps and slices below with it.
//
// Objects are map[string]any (or map[string]string), arrays []any (or []map[string]any); every other value
// (strings, json.Number, float64, bool, nil, any other type) is returned as is. Keys listed in verbatim are matched
// among the keys of the top-level object only, in their given, snake or camel spelling: the key is converted and
// its value copied untouched (deeply, for the types above), as for the template "data" of subscribeMessage.send.
//
// When two keys of one object convert to the same key ("appId" and "appid"), the one already spelled that way
// wins, else the smallest original key (byte order): the result never depends on map iteration order.
func ToSnake(v any, verbatim ...string) any {
	return convertRoot(v, SnakeKey, verbatim)
}

// ToCamel converts the keys of a decoded JSON value with CamelKey; otherwise it is ToSnake.
func ToCamel(v any, verbatim ...string) any {
	return convertRoot(v, CamelKey, verbatim)
}

// SnakeMap converts the keys of a flat map (form fields, the XML elements of WeChat Pay) with SnakeKey and returns
// a new map; values are kept. Colliding keys are settled as in ToSnake; a nil map gives nil.
func SnakeMap(m map[string]string) map[string]string {
	return convertMap(m, SnakeKey, keepString)
}

// CamelMap converts the keys of a flat map with CamelKey; otherwise it is SnakeMap.
func CamelMap(m map[string]string) map[string]string {
	return convertMap(m, CamelKey, keepString)
}

func keepString(_ string, v string) string { return v }

func convertRoot(v any, key func(string) string, verbatim []string) any {
	m, ok := v.(map[string]any)
	if !ok || len(verbatim) == 0 {
		return convertValue(v, key)
	}
	var spell [12]string
	spellings := appendSpellings(spell[:0], verbatim)
	return convertMap(m, key, func(k string, x any) any {
		if isVerbatim(spellings, k) {
			return copyValue(x)
		}
		return convertValue(x, key)
	})
}

func convertValue(v any, key func(string) string) any {
	switch t := v.(type) {
	case map[string]any:
		return convertMap(t, key, func(_ string, x any) any { return convertValue(x, key) })
	case []any:
		if t == nil {
			return t
		}
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = convertValue(x, key)
		}
		return out
	case map[string]string:
		return convertMap(t, key, keepString)
	case []map[string]any:
		if t == nil {
			return t
		}
		out := make([]map[string]any, len(t))
		for i, x := range t {
			out[i] = convertValue(x, key).(map[string]any)
		}
		return out
	}
	return v
}

// copyValue copies a verbatim value deeply, keys unchanged.
func copyValue(v any) any {
	return convertValue(v, func(k string) string { return k })
}

// convertMap returns m with its keys converted by key and its values by val (which also gets the original key).
func convertMap[V any](m map[string]V, key func(string) string, val func(string, V) V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[key(k)] = val(k, v)
	}
	if len(out) == len(m) {
		return out
	}
	// Two keys met on one spelling. Settle it by rule rather than by map order: first the keys that are already
	// spelled the converted way, then the others, each in byte order; the first one in wins.
	clear(out)
	keys := slices.Sorted(maps.Keys(m))
	for _, unchanged := range [2]bool{true, false} {
		for _, k := range keys {
			nk := key(k)
			if _, taken := out[nk]; taken || (nk == k) != unchanged {
				continue
			}
			out[nk] = val(k, m[k])
		}
	}
	return out
}
