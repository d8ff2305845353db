// length-limit: a hookbox plugin in C (Debian clang + wasi-libc, `wit-bindgen c`).
//
// Rejects OpenIM text messages longer than `max_chars` Unicode code points before they are
// sent (callbackBeforeSendSingleMsgCommand, callbackBeforeSendGroupMsgCommand) with errCode
// 5002. The text is the `content` of a text message (contentType 101) or the `text` of an
// @-message (106), inside the body's `content`, which is itself a JSON string. Every other
// message type and command is allowed.
//
// Config (hookbox.toml `grants.config`): max_chars, a whole number > 0 (default 2000).

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

#define REJECT_CODE 5002
#define DEFAULT_MAX_CHARS 2000

// ---- a minimal JSON reader: just enough to pull one string member out of an object ----

typedef struct {
  const char *p;
  const char *end;
} cursor_t;

static void skip_ws(cursor_t *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

// Skips a string starting at its opening quote; false if it is not terminated.
static bool skip_string(cursor_t *c) {
  if (c->p >= c->end || *c->p != '"') return false;
  for (c->p++; c->p < c->end; c->p++) {
    if (*c->p == '\\') {
      c->p++;
    } else if (*c->p == '"') {
      c->p++;
      return true;
    }
  }
  return false;
}

// Skips any value (nested objects and arrays by bracket depth, strings respected).
static bool skip_value(cursor_t *c) {
  skip_ws(c);
  if (c->p >= c->end) return false;
  if (*c->p == '"') return skip_string(c);
  if (*c->p == '{' || *c->p == '[') {
    int depth = 0;
    while (c->p < c->end) {
      char ch = *c->p;
      if (ch == '"') {
        if (!skip_string(c)) return false;
        continue;
      }
      if (ch == '{' || ch == '[') depth++;
      if (ch == '}' || ch == ']') {
        depth--;
        if (depth == 0) {
          c->p++;
          return true;
        }
      }
      c->p++;
    }
    return false;
  }
  // number, true, false, null
  while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ' &&
         *c->p != '\n' && *c->p != '\r' && *c->p != '\t')
    c->p++;
  return true;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char ch = p[i];
    v <<= 4;
    if (ch >= '0' && ch <= '9') v |= ch - '0';
    else if (ch >= 'a' && ch <= 'f') v |= ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') v |= ch - 'A' + 10;
    else return -1;
  }
  return v;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

// Decodes the JSON string at the cursor (opening quote) into a new NUL-terminated UTF-8
// buffer (*out, *out_len; free it). Decoded text is never longer than its escaped form.
static bool decode_string(cursor_t *c, char **out, size_t *out_len) {
  const char *start = c->p;
  if (!skip_string(c)) return false;
  const char *p = start + 1, *end = c->p - 1;
  char *buf = malloc((size_t)(end - p) + 1), *o = buf;
  if (!buf) return false;
  while (p < end) {
    if (*p != '\\') { *o++ = *p++; continue; }
    p++;
    switch (*p) {
      case '"': case '\\': case '/': *o++ = *p++; break;
      case 'b': *o++ = '\b'; p++; break;
      case 'f': *o++ = '\f'; p++; break;
      case 'n': *o++ = '\n'; p++; break;
      case 'r': *o++ = '\r'; p++; break;
      case 't': *o++ = '\t'; p++; break;
      case 'u': {
        if (end - p < 5) goto bad;
        int hi = hex4(p + 1);
        if (hi < 0) goto bad;
        p += 5;
        uint32_t cp = (uint32_t)hi;
        if (hi >= 0xD800 && hi <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          int lo = hex4(p + 2);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            p += 6;
          }
        }
        o += put_utf8(o, cp); // a lone surrogate still counts as one character
        break;
      }
      default: goto bad;
    }
  }
  *o = '\0';
  *out = buf;
  *out_len = (size_t)(o - buf);
  return true;
bad:
  free(buf);
  return false;
}

// Finds the top-level member `key` of the JSON object in [json, json+len) and leaves a
// cursor on its value. false if the text is not an object or has no such member.
static bool find_member(const char *json, size_t len, const char *key, cursor_t *value) {
  cursor_t c = {json, json + len};
  size_t key_len = strlen(key);
  skip_ws(&c);
  if (c.p >= c.end || *c.p != '{') return false;
  c.p++;
  for (;;) {
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '"') return false;
    const char *name = c.p + 1;
    if (!skip_string(&c)) return false;
    bool match = (size_t)(c.p - 1 - name) == key_len && memcmp(name, key, key_len) == 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != ':') return false;
    c.p++;
    skip_ws(&c);
    if (match) {
      *value = c;
      return true;
    }
    if (!skip_value(&c)) return false;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != ',') return false;
    c.p++;
  }
}

static bool member_string(const char *json, size_t len, const char *key, char **out, size_t *out_len) {
  cursor_t v;
  return find_member(json, len, key, &v) && v.p < v.end && *v.p == '"' && decode_string(&v, out, out_len);
}

static long member_int(const char *json, size_t len, const char *key) {
  cursor_t v;
  if (!find_member(json, len, key, &v)) return -1;
  return strtol(v.p, NULL, 10);
}

// ---- the plugin ----

static size_t count_code_points(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
  return n;
}

static void log_line(wasi_logging_logging_level_t level, const char *text) {
  plugin_string_t context, message;
  plugin_string_set(&context, "length-limit");
  plugin_string_set(&message, text);
  wasi_logging_logging_log(level, &context, &message);
}

static bool fail(plugin_string_t *err, const char *text) {
  plugin_string_dup(err, text); // freed by the generated post-return
  return false;
}

// max_chars from the config store, or DEFAULT_MAX_CHARS; 0 means the value is invalid.
static unsigned long max_chars(void) {
  plugin_string_t key;
  plugin_option_string_t value;
  wasi_config_store_error_t error;
  plugin_string_set(&key, "max_chars");
  if (!wasi_config_store_get(&key, &value, &error)) {
    wasi_config_store_error_free(&error);
    return 0;
  }
  if (!value.is_some) return DEFAULT_MAX_CHARS;
  char text[24] = {0};
  size_t n = value.val.len < sizeof text - 1 ? value.val.len : sizeof text - 1;
  memcpy(text, value.val.ptr, n);
  plugin_option_string_free(&value);
  char *end;
  unsigned long max = strtoul(text, &end, 10);
  return (*end == '\0' && text[0] >= '0' && text[0] <= '9') ? max : 0;
}

static bool is_command(const plugin_string_t *command, const char *name) {
  return command->len == strlen(name) && memcmp(command->ptr, name, command->len) == 0;
}

static bool decide(exports_hookbox_plugin_handler_event_t *event,
                   exports_hookbox_plugin_handler_verdict_t *ret, plugin_string_t *err) {
  ret->tag = HOOKBOX_PLUGIN_TYPES_VERDICT_ALLOW;
  if (event->dialect != HOOKBOX_PLUGIN_TYPES_DIALECT_OPENIM ||
      !(is_command(&event->command, "callbackBeforeSendSingleMsgCommand") ||
        is_command(&event->command, "callbackBeforeSendGroupMsgCommand")))
    return true;

  const char *body = (const char *)event->payload.ptr;
  size_t body_len = event->payload.len;
  const char *text_key;
  switch (member_int(body, body_len, "contentType")) {
    case 101: text_key = "content"; break; // text
    case 106: text_key = "text"; break;    // @-message
    default: return true;                   // pictures, files, ...: nothing to count
  }
  char *content, *text;
  size_t content_len, text_len;
  if (!member_string(body, body_len, "content", &content, &content_len))
    return fail(err, "length-limit: the body has no string `content`");
  bool found = member_string(content, content_len, text_key, &text, &text_len);
  free(content);
  if (!found) return fail(err, "length-limit: `content` holds no text");
  size_t chars = count_code_points(text, text_len);
  free(text);

  unsigned long max = max_chars();
  if (max == 0) return fail(err, "length-limit: config max_chars must be a whole number > 0");
  if (chars <= max) return true;

  char message[128];
  snprintf(message, sizeof message, "message too long: %zu characters, the limit is %lu", chars, max);
  log_line(WASI_LOGGING_LOGGING_LEVEL_INFO, message);
  ret->tag = HOOKBOX_PLUGIN_TYPES_VERDICT_REJECT;
  ret->val.reject.code = REJECT_CODE;
  plugin_string_dup(&ret->val.reject.message, message);
  plugin_string_dup(&ret->val.reject.detail, "");
  return true;
}

bool exports_hookbox_plugin_handler_handle(exports_hookbox_plugin_handler_event_t *event,
                                           exports_hookbox_plugin_handler_verdict_t *ret,
                                           plugin_string_t *err) {
  bool ok = decide(event, ret, err);
  exports_hookbox_plugin_handler_event_free(event); // the callee owns its arguments
  return ok;
}
