/*
 * wasm-pipes native ABI v1 for C. See ../ABI.md. Freestanding (no libc) by default; with wasi-libc (built for
 * wasm32-wasi) it uses malloc and the C library, and printf goes to the pipeline's log.
 *
 *   #include "wasm_pipes.h"
 *   WP_DEFINE_ALLOC()
 *   WP_EXPORT(filter) int32_t filter(const uint8_t *body, int32_t len) { return len > 0 ? WP_KEEP : WP_DROP; }
 *
 * Build, freestanding (Debian packages clang lld). clang turns array initialisers and struct copies into calls to
 * memcpy and memset, which no libc provides here: -mbulk-memory makes them single instructions (memory.copy and
 * memory.fill, which Node runs), and -ffreestanding keeps clang from turning loops into such calls:
 *   clang --target=wasm32 -O2 -nostdlib -ffreestanding -mbulk-memory -Wl,--no-entry -I sdk/c -o m.wasm m.c
 * Build with wasi-libc (Debian packages clang lld wasi-libc libclang-rt-14-dev-wasm32):
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -Wl,--strip-all -I sdk/c -o m.wasm m.c
 */
#ifndef WASM_PIPES_H
#define WASM_PIPES_H

#ifdef __wasi__
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#else
typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef unsigned long size_t;
#ifndef __wasm_bulk_memory__
/*
 * Built without -mbulk-memory, clang still calls memcpy and memset for initialisers and copies: weak byte loops
 * (volatile, so that the optimiser does not turn them back into calls to themselves) keep such a module linking.
 */
__attribute__((weak)) void *memcpy(void *to, const void *from, size_t len) {
  volatile uint8_t *d = (volatile uint8_t *)to;
  const uint8_t *s = (const uint8_t *)from;
  for (size_t i = 0; i < len; i++) d[i] = s[i];
  return to;
}
__attribute__((weak)) void *memmove(void *to, const void *from, size_t len) {
  volatile uint8_t *d = (volatile uint8_t *)to;
  const uint8_t *s = (const uint8_t *)from;
  if (d < s) for (size_t i = 0; i < len; i++) d[i] = s[i];
  else for (size_t i = len; i > 0; i--) d[i - 1] = s[i - 1];
  return to;
}
__attribute__((weak)) void *memset(void *to, int value, size_t len) {
  volatile uint8_t *d = (volatile uint8_t *)to;
  for (size_t i = 0; i < len; i++) d[i] = (uint8_t)value;
  return to;
}
#endif
#endif

#define WP_OK 0
#define WP_KEEP 1
#define WP_DROP 0
#define WP_ERROR (-1)
#define WP_MISSING (-1)

#define WP_LOG_TRACE 0
#define WP_LOG_DEBUG 1
#define WP_LOG_INFO 2
#define WP_LOG_WARN 3
#define WP_LOG_ERROR 4

#define WP_IMPORT(name) __attribute__((import_module("wasm_pipes_v1"), import_name(#name)))
#define WP_EXPORT(name) __attribute__((export_name(#name)))

/* Host functions (wasm_pipes_v1). Pointers are offsets in this module's memory; the host copies during the call. */
WP_IMPORT(emit) void wp_emit(const void *ptr, int32_t len);
WP_IMPORT(fail) void wp_fail(const char *reason, int32_t len);
WP_IMPORT(meta_get) int32_t wp_meta_get(const char *key, int32_t klen, void *out, int32_t cap);
WP_IMPORT(meta_set) void wp_meta_set(const char *key, int32_t klen, const void *value, int32_t vlen);
WP_IMPORT(meta_delete) void wp_meta_delete(const char *key, int32_t klen);
WP_IMPORT(key_get) int32_t wp_key_get(void *out, int32_t cap);
WP_IMPORT(key_set) void wp_key_set(const void *key, int32_t len);
WP_IMPORT(key_delete) void wp_key_delete(void);
WP_IMPORT(cache_get) int32_t wp_cache_get(const char *key, int32_t klen, void *out, int32_t cap);
WP_IMPORT(cache_set) int32_t wp_cache_set(const char *key, int32_t klen, const void *value, int32_t vlen, int32_t ttl_ms);
WP_IMPORT(cache_add) int32_t wp_cache_add(const char *key, int32_t klen, const void *value, int32_t vlen, int32_t ttl_ms);
WP_IMPORT(cache_delete) int32_t wp_cache_delete(const char *key, int32_t klen);
WP_IMPORT(config_get) int32_t wp_config_get(const char *key, int32_t klen, void *out, int32_t cap);
WP_IMPORT(log) void wp_log(int32_t level, const char *text, int32_t len);

static inline int32_t wp_strlen(const char *text) {
  int32_t n = 0;
  while (text[n]) n++;
  return n;
}

static inline void wp_memcpy(void *to, const void *from, int32_t len) {
  uint8_t *d = (uint8_t *)to;
  const uint8_t *s = (const uint8_t *)from;
  for (int32_t i = 0; i < len; i++) d[i] = s[i];
}

static inline int32_t wp_memeq(const void *a, const void *b, int32_t len) {
  const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
  for (int32_t i = 0; i < len; i++)
    if (x[i] != y[i]) return 0;
  return 1;
}

/* Records why this message failed; returns WP_ERROR for `return wp_failed("...")`. */
static inline int32_t wp_failed(const char *reason) {
  wp_fail(reason, wp_strlen(reason));
  return WP_ERROR;
}

static inline void wp_log_text(int32_t level, const char *text) { wp_log(level, text, wp_strlen(text)); }

/* A configuration value into buf (NUL-terminated); its length, or WP_MISSING. Truncated to cap-1 bytes. */
static inline int32_t wp_config(const char *name, char *buf, int32_t cap) {
  int32_t n = wp_config_get(name, wp_strlen(name), buf, cap - 1);
  if (n < 0) return WP_MISSING;
  if (n > cap - 1) n = wp_config_get(name, wp_strlen(name), buf, cap - 1) > 0 ? cap - 1 : 0;
  buf[n] = 0;
  return n;
}

#ifdef __wasi__
/* With wasi-libc: the host's buffers come from malloc and are never freed. */
#define WP_DEFINE_ALLOC() \
  WP_EXPORT(alloc) void *alloc(int32_t size) { return malloc((size_t)size); }
#else
/*
 * A bump allocator over the memory after the module's data (__heap_base), growing the memory as needed. The host
 * calls alloc() once for its input buffer and again only for a larger message, so nothing needs freeing.
 * Returns 0 when the memory cannot grow (the host reports it).
 */
extern uint8_t __heap_base;
static size_t wp_heap_next = 0;

static inline void *wp_alloc(int32_t size) {
  if (wp_heap_next == 0) wp_heap_next = (size_t)&__heap_base;
  size_t ptr = (wp_heap_next + 15) & ~(size_t)15;
  size_t end = ptr + (size_t)size;
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  wp_heap_next = end;
  return (void *)ptr;
}

#define WP_DEFINE_ALLOC() \
  WP_EXPORT(alloc) void *alloc(int32_t size) { return wp_alloc(size); }
#endif

/*
 * JSON helpers: they scan the text without parsing it all (strings, escapes and nesting respected) and never
 * allocate; the caller gives the output buffers.
 */

static inline int32_t wp_json_space(const uint8_t *s, int32_t len, int32_t i) {
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

/* Just past the JSON value that starts at i (spaces skipped), or -1 when it is malformed or cut short. */
static inline int32_t wp_json_value_end(const uint8_t *s, int32_t len, int32_t i) {
  i = wp_json_space(s, len, i);
  if (i >= len) return -1;
  if (s[i] == '"') {
    for (i++; i < len; i++) {
      if (s[i] == '\\') i++;
      else if (s[i] == '"') return i + 1;
    }
    return -1;
  }
  if (s[i] == '{' || s[i] == '[') {
    int32_t depth = 0;
    while (i < len) {
      if (s[i] == '"') {
        i = wp_json_value_end(s, len, i);
        if (i < 0) return -1;
        continue;
      }
      if (s[i] == '{' || s[i] == '[') depth++;
      else if ((s[i] == '}' || s[i] == ']') && --depth == 0) return i + 1;
      i++;
    }
    return -1;
  }
  while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') i++;
  return i;
}

/*
 * Finds the top-level field `name` of a JSON object: 1 with its raw value at [*start, *end) (a string keeps its
 * quotes), 0 when the object has no such field, -1 when the text is not a JSON object.
 */
static inline int32_t wp_json_field(const uint8_t *s, int32_t len, const char *name, int32_t *start, int32_t *end) {
  int32_t name_len = wp_strlen(name);
  int32_t i = wp_json_space(s, len, 0);
  if (i >= len || s[i] != '{') return -1;
  i = wp_json_space(s, len, i + 1);
  if (i < len && s[i] == '}') return 0;
  while (i < len) {
    if (s[i] != '"') return -1;
    int32_t key_end = wp_json_value_end(s, len, i);
    if (key_end < 0) return -1;
    int32_t colon = wp_json_space(s, len, key_end);
    if (colon >= len || s[colon] != ':') return -1;
    int32_t value_start = wp_json_space(s, len, colon + 1);
    int32_t value_end = wp_json_value_end(s, len, value_start);
    if (value_end < 0) return -1;
    if (key_end - i - 2 == name_len && wp_memeq(s + i + 1, name, name_len)) {
      *start = value_start;
      *end = value_end;
      return 1;
    }
    i = wp_json_space(s, len, value_end);
    if (i < len && s[i] == ',') i = wp_json_space(s, len, i + 1);
    else if (i < len && s[i] == '}') return 0;
    else return -1;
  }
  return -1;
}

/*
 * The value of the string field `name`, unescaped into out (NUL-terminated): its length, WP_MISSING when there is no
 * such field or it is not a string, or the length it needs (> cap - 1) when it does not fit: call again with more.
 * \uXXXX escapes become UTF-8 (a surrogate pair as one character).
 */
static inline int32_t wp_json_string(const uint8_t *s, int32_t len, const char *name, char *out, int32_t cap) {
  int32_t start, end;
  if (wp_json_field(s, len, name, &start, &end) != 1 || s[start] != '"') return WP_MISSING;
  int32_t n = 0;
  for (int32_t i = start + 1; i < end - 1; i++) {
    uint32_t c = s[i];
    if (c == '\\' && i + 1 < end - 1) {
      c = s[++i];
      if (c == 'n') c = '\n';
      else if (c == 't') c = '\t';
      else if (c == 'r') c = '\r';
      else if (c == 'b') c = '\b';
      else if (c == 'f') c = '\f';
      else if (c == 'u' && i + 4 < end - 1) {
        uint32_t code = 0;
        for (int32_t k = 1; k <= 4; k++) {
          uint8_t h = s[i + k];
          code = code * 16 + (h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
        }
        i += 4;
        if (code >= 0xD800 && code < 0xDC00 && i + 6 < end - 1 && s[i + 1] == '\\' && s[i + 2] == 'u') {
          uint32_t low = 0;
          for (int32_t k = 3; k <= 6; k++) {
            uint8_t h = s[i + k];
            low = low * 16 + (h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
          }
          if (low >= 0xDC00 && low < 0xE000) {
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
        }
        uint8_t bytes[4];
        int32_t count;
        if (code < 0x80) { bytes[0] = (uint8_t)code; count = 1; }
        else if (code < 0x800) { bytes[0] = (uint8_t)(0xC0 | (code >> 6)); bytes[1] = (uint8_t)(0x80 | (code & 0x3F)); count = 2; }
        else if (code < 0x10000) { bytes[0] = (uint8_t)(0xE0 | (code >> 12)); bytes[1] = (uint8_t)(0x80 | ((code >> 6) & 0x3F)); bytes[2] = (uint8_t)(0x80 | (code & 0x3F)); count = 3; }
        else { bytes[0] = (uint8_t)(0xF0 | (code >> 18)); bytes[1] = (uint8_t)(0x80 | ((code >> 12) & 0x3F)); bytes[2] = (uint8_t)(0x80 | ((code >> 6) & 0x3F)); bytes[3] = (uint8_t)(0x80 | (code & 0x3F)); count = 4; }
        for (int32_t k = 0; k < count; k++, n++) if (n < cap - 1) out[n] = (char)bytes[k];
        continue;
      }
    }
    if (n < cap - 1) out[n] = (char)c;
    n++;
  }
  if (cap > 0) out[n < cap - 1 ? n : cap - 1] = 0;
  return n;
}

/* The value of the number field `name` in *out: 1, or 0 when there is no such field or it is not a number. */
static inline int32_t wp_json_number(const uint8_t *s, int32_t len, const char *name, double *out) {
  int32_t start, end;
  if (wp_json_field(s, len, name, &start, &end) != 1) return 0;
  int32_t i = start;
  double sign = 1, value = 0, scale = 1;
  int32_t digits = 0;
  if (i < end && s[i] == '-') { sign = -1; i++; }
  for (; i < end && s[i] >= '0' && s[i] <= '9'; i++, digits++) value = value * 10 + (s[i] - '0');
  if (i < end && s[i] == '.')
    for (i++; i < end && s[i] >= '0' && s[i] <= '9'; i++, digits++) { scale /= 10; value += (s[i] - '0') * scale; }
  if (i < end && (s[i] == 'e' || s[i] == 'E')) {
    int32_t exponent = 0, negative = 0;
    i++;
    if (i < end && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    for (; i < end && s[i] >= '0' && s[i] <= '9'; i++) exponent = exponent * 10 + (s[i] - '0');
    for (; exponent > 0; exponent--) value = negative ? value / 10 : value * 10;
  }
  if (digits == 0 || i != end) return 0;
  *out = sign * value;
  return 1;
}

/*
 * Writes `text` (len bytes) as a JSON string, quotes included, into out: the length it needs, written only when it
 * fits in cap bytes (the buffer rule of the ABI). Quotes, backslashes and control characters are escaped.
 */
static inline int32_t wp_json_escape(const char *text, int32_t len, char *out, int32_t cap) {
  static const char hex[] = "0123456789abcdef";
  int32_t n = 0;
#define WP_PUT(c) do { if (n < cap) out[n] = (c); n++; } while (0)
  WP_PUT('"');
  for (int32_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)text[i];
    if (c == '"' || c == '\\') { WP_PUT('\\'); WP_PUT((char)c); }
    else if (c == '\n') { WP_PUT('\\'); WP_PUT('n'); }
    else if (c == '\r') { WP_PUT('\\'); WP_PUT('r'); }
    else if (c == '\t') { WP_PUT('\\'); WP_PUT('t'); }
    else if (c < 0x20) { WP_PUT('\\'); WP_PUT('u'); WP_PUT('0'); WP_PUT('0'); WP_PUT(hex[c >> 4]); WP_PUT(hex[c & 15]); }
    else WP_PUT((char)c);
  }
  WP_PUT('"');
#undef WP_PUT
  return n;
}

/*
 * Copies the JSON object at s with the field `name` set to the raw JSON `value` (replaced when present, added at
 * the end when not) into out: the length it needs, written only when it fits in cap; -1 when s is not an object.
 * For a string value, escape it first with wp_json_escape.
 */
static inline int32_t wp_json_set_field(const uint8_t *s, int32_t len, const char *name, const char *value, int32_t value_len,
                                        uint8_t *out, int32_t cap) {
  int32_t start, end, n = 0;
  int32_t found = wp_json_field(s, len, name, &start, &end);
  if (found < 0) return -1;
#define WP_COPY(src, count) do { for (int32_t k_ = 0; k_ < (count); k_++, n++) if (n < cap) out[n] = (uint8_t)(src)[k_]; } while (0)
  if (found == 1) {
    WP_COPY(s, start);
    WP_COPY(value, value_len);
    WP_COPY(s + end, len - end);
    return n;
  }
  int32_t close = len - 1;
  while (close > 0 && s[close] != '}') close--;
  int32_t last = close - 1;
  while (last > 0 && (s[last] == ' ' || s[last] == '\t' || s[last] == '\n' || s[last] == '\r')) last--;
  int32_t empty = s[last] == '{';
  WP_COPY(s, last + 1);
  if (!empty) WP_COPY(",", 1);
  WP_COPY("\"", 1);
  WP_COPY(name, wp_strlen(name));
  WP_COPY("\":", 2);
  WP_COPY(value, value_len);
  WP_COPY(s + close, len - close);
#undef WP_COPY
  return n;
}

#endif
