/*
 * The permissions of one connection, as the cloud sends them (docs/contracts.md "Broker plugin
 * socket"), and the per-message decision on them: AWS IoT policy globs matched against the
 * topic's ARN (an explicit deny wins), plus the reserved-topic rules.
 */
#ifndef BUTTONRIG_PERMISSIONS_H
#define BUTTONRIG_PERMISSIONS_H

#include <stddef.h>

enum { PUBLISH = 0, SUBSCRIBE = 1, RECEIVE = 2, ACTIONS = 3 };

struct list {
	char **items;
	int count;
};

struct permissions {
	int full; /* the cloud's own clients: everything */
	char *arn_prefix; /* "arn:aws:iot:<region>:<account>:" */
	struct list allow[ACTIONS], deny[ACTIONS];
	struct list reserved_publish, reserved_subscribe, reserved_wildcard;
};

void ba_list_add(struct list *list, char *item);
void ba_list_free(struct list *list);
void ba_permissions_free(struct permissions *p);
char *ba_hex_decode(const char *hex);
char *ba_hex_encode(const char *text);
char *ba_hex_bytes(const unsigned char *data, size_t len); /* lowercase hex, to free */
/* Whether `action` (PUBLISH, SUBSCRIBE, RECEIVE) on `<arn prefix><kind>/<name>` is allowed. */
int ba_allowed(const struct permissions *p, int action, const char *kind, const char *name);
/* Whether a device may use this `$` topic (or, to subscribe, filter); other topics: 1. */
int ba_reserved_allowed(const struct permissions *p, const char *topic, int action);
/* One "<KEY> <hex value>" line of an ALLOW reply into `p`. */
void ba_take_permission_line(struct permissions *p, const char *line);

#endif
