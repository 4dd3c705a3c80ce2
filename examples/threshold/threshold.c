/*
 * Hot/cold threshold filter: keeps a JSON event whose numeric field (config "field", default "temperature") is
 * above the threshold (config "threshold", default 30), or at or below it with config keep=cold. An event without
 * that field fails (nacked, or dead-lettered with onError deadLetter).
 */
#include "wasm_pipes.h"

WP_DEFINE_ALLOC()

static char field[64];
static int32_t field_len = -1;
static double threshold = 30;
static int32_t keep_cold = 0;

static int32_t parse_number(const uint8_t *s, int32_t len, int32_t i, double *out) {
  double sign = 1, value = 0, scale = 1;
  int32_t digits = 0;
  if (i < len && s[i] == '-') { sign = -1; i++; }
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) value = value * 10 + (s[i] - '0');
  if (i < len && s[i] == '.')
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) { scale /= 10; value += (s[i] - '0') * scale; }
  *out = sign * value;
  return digits > 0;
}

static void configure(void) {
  char buf[64];
  field_len = wp_config("field", field, sizeof field);
  if (field_len <= 0) { wp_memcpy(field, "temperature", 12); field_len = 11; }
  int32_t n = wp_config("threshold", buf, sizeof buf);
  if (n > 0) parse_number((const uint8_t *)buf, n, 0, &threshold);
  keep_cold = wp_config("keep", buf, sizeof buf) == 4 && wp_memeq(buf, "cold", 4);
}

WP_EXPORT(filter) int32_t filter(const uint8_t *body, int32_t len) {
  if (field_len < 0) configure();
  /* find "field" followed by a colon, outside of string values */
  for (int32_t i = 0; i + field_len + 2 <= len; i++) {
    if (body[i] != '"') continue;
    if (body[i + field_len + 1] == '"' && wp_memeq(body + i + 1, field, field_len)) {
      int32_t j = i + field_len + 2;
      while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r')) j++;
      if (j < len && body[j] == ':') {
        j++;
        while (j < len && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r')) j++;
        double value;
        if (!parse_number(body, len, j, &value)) return wp_failed("the field is not a number");
        int32_t hot = value > threshold;
        return (hot != keep_cold) ? WP_KEEP : WP_DROP;
      }
    }
    /* skip over this string */
    for (i++; i < len && body[i] != '"'; i++)
      if (body[i] == '\\') i++;
  }
  return wp_failed("no such numeric field in the event");
}
