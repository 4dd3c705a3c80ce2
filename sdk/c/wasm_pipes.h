/*
 * wasm-pipes native ABI v1 for C, freestanding (no libc). See ../ABI.md.
 *
 *   #include "wasm_pipes.h"
 *   WP_DEFINE_ALLOC()
 *   WP_EXPORT(filter) int32_t filter(uint8_t *body, int32_t len) { return len > 0 ? WP_KEEP : WP_DROP; }
 *
 * Build (Debian packages clang lld):
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export=alloc -Wl,--export=filter -o m.wasm m.c
 */
#ifndef WASM_PIPES_H
#define WASM_PIPES_H

typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef unsigned long size_t;

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
