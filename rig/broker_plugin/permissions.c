/* Permissions of one connection and the per-message decision on them (permissions.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "permissions.h"

/* ------------------------------------------------------------------ small helpers */

void ba_list_add(struct list *list, char *item)
{
	char **grown = realloc(list->items, sizeof(char *) * (size_t)(list->count + 1));
	if(!grown){
		free(item);
		return;
	}
	list->items = grown;
	list->items[list->count++] = item;
}

void ba_list_free(struct list *list)
{
	for(int i = 0; i < list->count; i++) free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

void ba_permissions_free(struct permissions *p)
{
	for(int a = 0; a < ACTIONS; a++){
		ba_list_free(&p->allow[a]);
		ba_list_free(&p->deny[a]);
	}
	ba_list_free(&p->reserved_publish);
	ba_list_free(&p->reserved_subscribe);
	ba_list_free(&p->reserved_wildcard);
	free(p->arn_prefix);
	memset(p, 0, sizeof(*p));
}

static int hex_value(char c)
{
	if(c >= '0' && c <= '9') return c - '0';
	if(c >= 'a' && c <= 'f') return c - 'a' + 10;
	if(c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decode hex text into a new NUL-terminated string; NULL if malformed. */
char *ba_hex_decode(const char *hex)
{
	size_t len = strlen(hex);
	if(len % 2) return NULL;
	char *out = malloc(len / 2 + 1);
	if(!out) return NULL;
	for(size_t i = 0; i < len / 2; i++){
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if(hi < 0 || lo < 0 || (hi == 0 && lo == 0)){
			free(out);
			return NULL;
		}
		out[i] = (char)(hi * 16 + lo);
	}
	out[len / 2] = '\0';
	return out;
}

char *ba_hex_encode(const char *text)
{
	return ba_hex_bytes((const unsigned char *)text, strlen(text));
}

char *ba_hex_bytes(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = malloc(2 * len + 1);
	if(!out) return NULL;
	for(size_t i = 0; i < len; i++){
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

/* ------------------------------------------------------------------ matching */

/* One UTF-8 character's length at `s` (the policy engine's `?` is one character). */
static size_t utf8_length(const char *s)
{
	size_t n = 1;
	while(s[n] && ((unsigned char)s[n] & 0xC0) == 0x80) n++;
	return n;
}

/* AWS IoT policy glob: `*` any run of characters (`/` included), `?` one character, `\x` the
 * literal x (a policy variable's value is literal, rig/cloud/policies/engine.py
 * resolve_pattern). */
static int glob_matches(const char *pattern, const char *text)
{
	while(*pattern){
		if(*pattern == '*'){
			while(*pattern == '*') pattern++;
			if(!*pattern) return 1;
			for(const char *t = text; *t; t++){
				if(glob_matches(pattern, t)) return 1;
			}
			return 0;
		}
		if(!*text) return 0;
		if(*pattern == '?'){
			text += utf8_length(text);
			pattern++;
			continue;
		}
		if(*pattern == '\\' && pattern[1]) pattern++;
		if(*pattern != *text) return 0;
		pattern++;
		text++;
	}
	return *text == '\0';
}

/* The policy decision for one action on one resource: an explicit deny wins, then an allow. */
int ba_allowed(const struct permissions *p, int action, const char *kind, const char *name)
{
	size_t len = strlen(p->arn_prefix) + strlen(kind) + strlen(name) + 2;
	char *resource = malloc(len);
	if(!resource) return 0;
	snprintf(resource, len, "%s%s/%s", p->arn_prefix, kind, name);
	int verdict = 0;
	for(int i = 0; i < p->deny[action].count; i++){
		if(glob_matches(p->deny[action].items[i], resource)) goto done;
	}
	for(int i = 0; i < p->allow[action].count; i++){
		if(glob_matches(p->allow[action].items[i], resource)){
			verdict = 1;
			break;
		}
	}
done:
	free(resource);
	return verdict;
}

/* Every topic `filter` can match is matched by `pattern` (rig/cloud/policies/engine.py
 * _pattern_covers: `+` one level, `#` the rest). */
static int pattern_covers(const char *pattern, const char *filter)
{
	const char *p = pattern, *f = filter;
	while(1){
		const char *p_end = strchr(p, '/'), *f_end = strchr(f, '/');
		size_t p_len = p_end ? (size_t)(p_end - p) : strlen(p);
		size_t f_len = f_end ? (size_t)(f_end - f) : strlen(f);
		if(p_len == 1 && *p == '#') return 1;
		if(f_len == 1 && *f == '#') return 0;
		if(!(p_len == 1 && *p == '+') && (p_len != f_len || strncmp(p, f, p_len))) return 0;
		if(!p_end || !f_end) return !p_end && !f_end;
		p = p_end + 1;
		f = f_end + 1;
	}
}

/* Reserved `$` topics a device may use (rig/cloud/policies/engine.py reserved_topic_allowed). */
int ba_reserved_allowed(const struct permissions *p, const char *topic, int action)
{
	if(topic[0] != '$') return 1;
	const struct list *patterns = action == PUBLISH ? &p->reserved_publish : &p->reserved_subscribe;
	if(action == SUBSCRIBE && (strchr(topic, '+') || strchr(topic, '#'))){
		patterns = &p->reserved_wildcard;
	}
	for(int i = 0; i < patterns->count; i++){
		if(action == SUBSCRIBE){
			if(pattern_covers(patterns->items[i], topic)) return 1;
		}else{
			bool match = false;
			if(mosquitto_topic_matches_sub(patterns->items[i], topic, &match) == MOSQ_ERR_SUCCESS
					&& match){
				return 1;
			}
		}
	}
	return 0;
}

void ba_take_permission_line(struct permissions *p, const char *line)
{
	static const char *allow_keys[ACTIONS] = {"PUBLISH_ALLOW", "SUBSCRIBE_ALLOW", "RECEIVE_ALLOW"};
	static const char *deny_keys[ACTIONS] = {"PUBLISH_DENY", "SUBSCRIBE_DENY", "RECEIVE_DENY"};
	const char *space = strchr(line, ' ');
	if(!space) return;
	char key[32];
	size_t key_len = (size_t)(space - line);
	if(key_len >= sizeof(key)) return;
	memcpy(key, line, key_len);
	key[key_len] = '\0';
	char *value = ba_hex_decode(space + 1);
	if(!value) return;
	for(int a = 0; a < ACTIONS; a++){
		if(!strcmp(key, allow_keys[a])) { ba_list_add(&p->allow[a], value); return; }
		if(!strcmp(key, deny_keys[a])) { ba_list_add(&p->deny[a], value); return; }
	}
	if(!strcmp(key, "ARN")){
		free(p->arn_prefix);
		p->arn_prefix = value;
	}else if(!strcmp(key, "RESERVED_PUBLISH")){
		ba_list_add(&p->reserved_publish, value);
	}else if(!strcmp(key, "RESERVED_SUBSCRIBE")){
		ba_list_add(&p->reserved_subscribe, value);
	}else if(!strcmp(key, "RESERVED_WILDCARD")){
		ba_list_add(&p->reserved_wildcard, value);
	}else{
		free(value); /* a key of a newer cloud: ignored */
	}
}

/* Ask the cloud about (certificate id, client id). Returns 1 allowed (permissions filled),
 * 0 refused, -1 the cloud did not answer (refused too: never allow what was not decided). */
