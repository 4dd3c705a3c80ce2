/*
 * __NAME__: a wasm-pipes transform in C, freestanding (no libc). It uppercases the body, puts the configured "prefix"
 * before it, marks the output with the metadata "transformed-by", and drops empty messages. See __SDK__/ABI.md.
 */
#include "wasm_pipes.h"

WP_DEFINE_ALLOC()

static uint8_t out[64 * 1024];

WP_EXPORT(transform) int32_t transform(const uint8_t *body, int32_t len) {
  if (len == 0) return WP_OK; /* no output: the message is dropped (and acked) */
  char prefix[256];
  int32_t n = wp_config("prefix", prefix, sizeof prefix);
  if (n < 0) n = 0;
  if (n + len > (int32_t)sizeof out) return wp_failed("the message is larger than 64 KiB");
  wp_memcpy(out, prefix, n);
  for (int32_t i = 0; i < len; i++) out[n + i] = body[i] >= 'a' && body[i] <= 'z' ? body[i] - 32 : body[i];
  wp_meta_set("transformed-by", 14, "__NAME__", wp_strlen("__NAME__"));
  wp_emit(out, n + len);
  return WP_OK;
}
