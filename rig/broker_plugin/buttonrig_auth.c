/*
 * buttonrig_auth: mosquitto 2.0 plugin that takes AWS IoT's authorization decisions inside the
 * broker, asking the reference cloud (rig/cloud/auth/plugin_server.py) over a Unix socket.
 *
 * - MOSQ_EVT_BASIC_AUTH (every CONNECT; the listener has no use_identity_as_username):
 *   certificate id = SHA-256 of the peer certificate's DER, lowercase hex (as AWS IoT and
 *   rig/cloud/certificates/ca.py compute it); the cloud answers ALLOW with the connection's
 *   permissions or DENY; a denial is MOSQ_ERR_AUTH, so mosquitto sends CONNACK 5 and closes.
 *   A first CONNECT also carries the certificate (DER, hex): just-in-time registration.
 * - MOSQ_EVT_ACL_CHECK: decided here per message against the permissions kept per connection.
 *   A refused PUBLISH or SUBSCRIBE returns MOSQ_ERR_ADMINISTRATIVE_ACTION, not
 *   MOSQ_ERR_ACL_DENIED: mosquitto (src/handle_publish.c, src/handle_subscribe.c) then returns
 *   before any PUBACK/SUBACK and closes the connection, as AWS IoT does. A refused delivery
 *   (MOSQ_ACL_READ) is MOSQ_ERR_ACL_DENIED: that subscriber does not get the message.
 * - MOSQ_EVT_TICK: reads the cloud's invalidations ("CHANGED <generation>") on a second
 *   connection, asks again for every live connection, kicks those now refused, answers
 *   "APPLIED <generation>". Also disconnects persistent sessions right after their CONNACK.
 * - Lifecycle reports (one-way lines to the cloud, which publishes the events): CONNECTED after
 *   an allowed CONNECT; DISCONNECTED at the next tick after MOSQ_EVT_DISCONNECT (the will, if
 *   any, is checked in between), with what the plugin knows of the reason. mosquitto 2.0.11
 *   gives plugins no reason (src/context.c context__disconnect calls
 *   plugin__handle_disconnect(context, -1)), so the plugin says what it knows: the connection
 *   was taken over (a later CONNECT with its client id), refused by the plugin, or its will was
 *   sent (so it did not send DISCONNECT).
 * - The will: mosquitto checks it with MOSQ_ACL_WRITE after MOSQ_EVT_DISCONNECT (src/context.c
 *   context__send_will); a WRITE check for a closing connection is its will. The plugin tells
 *   the cloud ("WILL", answered "OK") before the broker queues it, so the shadow service knows
 *   it when it arrives.
 *
 * The protocol is in docs/contracts.md ("Broker plugin socket"). mosquitto is single-threaded:
 * every call here runs on its main loop, so no locking.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define REPLY_TIMEOUT_MS 5000
#define LINE_MAX_BYTES 65536

#include "permissions.h"

struct connection {
	struct mosquitto *client;
	char *client_id;
	char certificate_id[65];
	int kick_pending; /* a persistent session: disconnected at the next tick */
	int closing; /* disconnected: kept until the next tick, for its will's ACL check */
	int will_sent; /* its will passed the ACL check: the client did not send DISCONNECT */
	const char *end_reason; /* the disconnectReason when the plugin caused or saw the end */
	int reported; /* its DISCONNECTED is sent */
	struct permissions permissions;
	struct connection *next;
};

static mosquitto_plugin_id_t *plugin_id;
static char *socket_path;
/* plugin_opt_session_keeper: the client id (the cloud's own, which only the cloud's certificate
 * may take) whose persistent session receives everything while it is offline or restored from
 * the persistence file before it reconnects: no live connection to decide by then. */
static char *session_keeper;
static int request_fd = -1;
static int watch_fd = -1;
static char watch_buffer[4096];
static size_t watch_used;
static struct connection *connections;

/* ------------------------------------------------------------------ the socket */

static int open_socket(void)
{
	struct sockaddr_un address;
	if(!socket_path || strlen(socket_path) >= sizeof(address.sun_path)) return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if(fd < 0) return -1;
	memset(&address, 0, sizeof(address));
	address.sun_family = AF_UNIX;
	strcpy(address.sun_path, socket_path);
	if(connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0){
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
	while(len){
		ssize_t sent = send(fd, data, len, MSG_NOSIGNAL);
		if(sent < 0){
			if(errno == EINTR) continue;
			return -1;
		}
		data += sent;
		len -= (size_t)sent;
	}
	return 0;
}

/* Bytes read from the request socket and not yet returned as a line. */
static char reply_buffer[4096];
static size_t reply_start, reply_end;

/* Read one line (without its newline) from the request socket, waiting at most the reply
 * timeout for each chunk; NULL on error, timeout or end of stream. */
static char *read_line(int fd)
{
	size_t used = 0, size = 256;
	char *line = malloc(size);
	if(!line) return NULL;
	while(1){
		if(reply_start == reply_end){
			struct pollfd waiting = {.fd = fd, .events = POLLIN};
			if(poll(&waiting, 1, REPLY_TIMEOUT_MS) <= 0) break;
			ssize_t got = recv(fd, reply_buffer, sizeof(reply_buffer), 0);
			if(got <= 0) break;
			reply_start = 0;
			reply_end = (size_t)got;
		}
		char c = reply_buffer[reply_start++];
		if(c == '\n'){
			line[used] = '\0';
			return line;
		}
		if(used + 1 >= size){
			if(size >= LINE_MAX_BYTES) break;
			char *grown = realloc(line, size * 2);
			if(!grown) break;
			line = grown;
			size *= 2;
		}
		line[used++] = c;
	}
	free(line);
	return NULL;
}

static void drop_request_socket(void)
{
	if(request_fd >= 0) close(request_fd);
	request_fd = -1;
	reply_start = reply_end = 0; /* what the old connection left unread is void */
}

/* Parse one permission line ("<KEY> <hex value>") of an ALLOW reply into `p`.
 * `certificate_hex`: the certificate of a first CONNECT (NULL when asking again). */
static int ask(const char *certificate_id, const char *client_id, const char *certificate_hex,
		struct permissions *out)
{
	memset(out, 0, sizeof(*out));
	char *client_hex = ba_hex_encode(client_id);
	if(!client_hex) return -1;
	size_t len = strlen(certificate_id) + strlen(client_hex)
			+ (certificate_hex ? strlen(certificate_hex) + 1 : 0) + 16;
	char *request = malloc(len);
	if(!request){
		free(client_hex);
		return -1;
	}
	snprintf(request, len, "CONNECT %s %s%s%s\n", certificate_id, client_hex,
			certificate_hex ? " " : "", certificate_hex ? certificate_hex : "");
	free(client_hex);
	int verdict = -1;
	for(int attempt = 0; attempt < 2 && verdict < 0; attempt++){
		if(request_fd < 0) request_fd = open_socket();
		if(request_fd < 0) break;
		if(send_all(request_fd, request, strlen(request)) < 0){
			drop_request_socket();
			continue; /* the cloud restarted its server: once more on a new connection */
		}
		char *line = read_line(request_fd);
		if(!line){
			drop_request_socket();
			continue;
		}
		if(!strncmp(line, "DENY", 4)){
			verdict = 0;
			char *reason = strlen(line) > 5 ? ba_hex_decode(line + 5) : NULL;
			mosquitto_log_printf(MOSQ_LOG_NOTICE, "buttonrig_auth: %s refused: %s",
					client_id, reason ? reason : "?");
			free(reason);
		}else if(!strcmp(line, "ALLOW")){
			while(1){
				char *more = read_line(request_fd);
				if(!more){
					drop_request_socket();
					ba_permissions_free(out);
					break;
				}
				if(!strcmp(more, "END")){
					free(more);
					verdict = (out->full || out->arn_prefix) ? 1 : -1;
					break;
				}
				if(!strcmp(more, "FULL")) out->full = 1;
				else ba_take_permission_line(out, more);
				free(more);
			}
		}else{
			drop_request_socket(); /* out of step with the server: start afresh */
		}
		free(line);
	}
	free(request);
	if(verdict != 1) ba_permissions_free(out);
	return verdict;
}

/* ------------------------------------------------------------------ lifecycle reports */

/* One line to the cloud on the request socket; no reply unless `await_ok`. Best effort: a
 * lost report costs an event, never a connection. */
static void report(const char *line, int await_ok)
{
	for(int attempt = 0; attempt < 2; attempt++){
		if(request_fd < 0) request_fd = open_socket();
		if(request_fd < 0) return;
		if(send_all(request_fd, line, strlen(line)) < 0){
			drop_request_socket();
			continue;
		}
		if(!await_ok) return;
		char *reply = read_line(request_fd);
		int ok = reply && !strcmp(reply, "OK");
		free(reply);
		if(!ok) drop_request_socket();
		return;
	}
}

static void report_presence(const char *kind, const char *certificate_id, const char *client_id,
		const char *reason)
{
	char *client_hex = ba_hex_encode(client_id);
	if(!client_hex) return;
	size_t len = strlen(client_hex) + 128;
	char *line = malloc(len);
	if(line){
		snprintf(line, len, "%s %s %s%s%s\n", kind, certificate_id, client_hex,
				reason ? " " : "", reason ? reason : "");
		report(line, 0);
		free(line);
	}
	free(client_hex);
}

static void report_will(const char *client_id, const char *topic, const void *payload,
		uint32_t payloadlen)
{
	char *client_hex = ba_hex_encode(client_id);
	char *topic_hex = ba_hex_encode(topic);
	size_t len = (client_hex ? strlen(client_hex) : 0) + (topic_hex ? strlen(topic_hex) : 0)
			+ 2 * (size_t)payloadlen + 16;
	char *line = (client_hex && topic_hex) ? malloc(len) : NULL;
	if(line){
		int used = snprintf(line, len, "WILL %s %s ", client_hex, topic_hex);
		const unsigned char *bytes = payload;
		for(uint32_t i = 0; i < payloadlen; i++) sprintf(line + used + 2 * i, "%02x", bytes[i]);
		strcpy(line + used + 2 * payloadlen, payloadlen ? "\n" : "-\n");
		report(line, 1);
	}
	free(line);
	free(topic_hex);
	free(client_hex);
}

/* ------------------------------------------------------------------ connections */

static struct connection *find_connection(const struct mosquitto *client)
{
	for(struct connection *c = connections; c; c = c->next){
		if(c->client == client) return c;
	}
	return NULL;
}

static void forget_connection(const struct mosquitto *client)
{
	struct connection **link = &connections;
	while(*link){
		struct connection *c = *link;
		if(c->client == client){
			*link = c->next;
			ba_permissions_free(&c->permissions);
			free(c->client_id);
			free(c);
			return;
		}
		link = &c->next;
	}
}

/* SHA-256 of the certificate's DER encoding, lowercase hex: the AWS IoT certificate id; and
 * the DER in hex (`*der_hex`, to free) for the cloud's first look at it. */
static int certificate_id_of(struct mosquitto *client, char out[65], char **der_hex)
{
	X509 *certificate = mosquitto_client_certificate(client);
	if(!certificate) return -1;
	unsigned char *der = NULL;
	int der_len = i2d_X509(certificate, &der);
	X509_free(certificate); /* SSL_get_peer_certificate took a reference */
	if(der_len <= 0) return -1;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	int ok = EVP_Digest(der, (size_t)der_len, digest, &digest_len, EVP_sha256(), NULL);
	*der_hex = ok && digest_len == 32 ? ba_hex_bytes(der, (size_t)der_len) : NULL;
	OPENSSL_free(der);
	if(!*der_hex) return -1;
	for(unsigned int i = 0; i < digest_len; i++) sprintf(out + 2 * i, "%02x", digest[i]);
	out[64] = '\0';
	return 0;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_basic_auth *ed = event_data;
	struct connection *stale = find_connection(ed->client); /* a reused context's address */
	if(stale && stale->closing && !stale->reported){
		report_presence("DISCONNECTED", stale->certificate_id, stale->client_id,
				stale->end_reason ? stale->end_reason : stale->will_sent ? "WILL" : "-");
	}
	forget_connection(ed->client);
	const char *client_id = mosquitto_client_id(ed->client);
	char certificate_id[65];
	char *der_hex = NULL;
	if(!client_id || certificate_id_of(ed->client, certificate_id, &der_hex) < 0) return MOSQ_ERR_AUTH;
	struct permissions permissions;
	int verdict = ask(certificate_id, client_id, der_hex, &permissions);
	free(der_hex);
	if(verdict != 1){
		if(verdict < 0){
			mosquitto_log_printf(MOSQ_LOG_WARNING,
					"buttonrig_auth: no decision from the cloud for %s: refused", client_id);
		}
		return MOSQ_ERR_AUTH;
	}
	struct connection *c = calloc(1, sizeof(*c));
	if(!c || !(c->client_id = strdup(client_id))){
		free(c);
		ba_permissions_free(&permissions);
		return MOSQ_ERR_AUTH;
	}
	c->client = ed->client;
	memcpy(c->certificate_id, certificate_id, sizeof(certificate_id));
	/* mosquitto closes a live connection with this client id next (src/handle_connect.c
	 * connect__on_authorised): as AWS IoT, DUPLICATE_CLIENTID, reported before this one. */
	for(struct connection *old = connections; old; old = old->next){
		if(!old->closing && !old->reported && !strcmp(old->client_id, client_id)){
			old->end_reason = "DUPLICATE_CLIENTID";
			old->reported = 1;
			old->closing = 1; /* it reads nothing more; its next WRITE check is its will */
			report_presence("DISCONNECTED", old->certificate_id, old->client_id, old->end_reason);
		}
	}
	report_presence("CONNECTED", certificate_id, client_id, NULL);
	c->permissions = permissions;
	/* AWS IoT disconnects a client that asks for a persistent session (cleanSession = 0). */
	c->kick_pending = !permissions.full && !mosquitto_client_clean_session(ed->client);
	c->next = connections;
	connections = c;
	return MOSQ_ERR_SUCCESS;
}

/* A PUBLISH or SUBSCRIBE AWS IoT refuses: any error but MOSQ_ERR_ACL_DENIED makes mosquitto
 * return before the PUBACK/SUBACK and close the connection ("been disconnected by administrative
 * action" in its log). */
static int refuse(struct connection *c, const char *what, const char *topic, int qos)
{
	if(c->closing) return MOSQ_ERR_ACL_DENIED; /* its will: not sent, nothing more to close */
	if(!c->end_reason) c->end_reason = "AUTH_ERROR"; /* the guide: "authorization failed" */
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "buttonrig_auth: %s may not %s %s (QoS %d): disconnecting it",
			c->client_id, what, topic, qos);
	return MOSQ_ERR_ADMINISTRATIVE_ACTION;
}

/* The session keeper's offline session: queued for it, delivered when it reconnects. */
static int offline_keeper(struct mosquitto *client)
{
	const char *client_id = mosquitto_client_id(client);
	return session_keeper && client_id && !strcmp(client_id, session_keeper);
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_acl_check *ed = event_data;
	struct connection *c = find_connection(ed->client);
	int refusal = MOSQ_ERR_ADMINISTRATIVE_ACTION; /* closes the connection, no ack */
	switch(ed->access){
		case MOSQ_ACL_READ:
			if(!c) return offline_keeper(ed->client) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
			if(c->permissions.full) return MOSQ_ERR_SUCCESS;
			return ba_reserved_allowed(&c->permissions, ed->topic, RECEIVE)
					&& ba_allowed(&c->permissions, RECEIVE, "topic", ed->topic)
					? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
		case MOSQ_ACL_WRITE:
			if(!c) return refusal;
			if(c->permissions.full) return MOSQ_ERR_SUCCESS;
			if(ed->qos <= 1 /* AWS IoT: QoS 2 PUBLISH, no PUBACK (nor PUBREC) */
					&& ba_reserved_allowed(&c->permissions, ed->topic, PUBLISH)
					&& ba_allowed(&c->permissions, PUBLISH, "topic", ed->topic)){
				if(c->closing && !c->will_sent){ /* no packet is read after the disconnect */
					c->will_sent = 1;
					report_will(c->client_id, ed->topic, ed->payload, ed->payloadlen);
				}
				return MOSQ_ERR_SUCCESS;
			}
			return refuse(c, "PUBLISH", ed->topic, ed->qos);
		case MOSQ_ACL_SUBSCRIBE:
			if(!c) return refusal;
			if(c->permissions.full) return MOSQ_ERR_SUCCESS;
			if(ed->qos <= 1 /* AWS IoT: QoS 2 SUBSCRIBE, no SUBACK */
					&& ba_reserved_allowed(&c->permissions, ed->topic, SUBSCRIBE)
					&& ba_allowed(&c->permissions, SUBSCRIBE, "topicfilter", ed->topic)){
				return MOSQ_ERR_SUCCESS;
			}
			return refuse(c, "SUBSCRIBE", ed->topic, ed->qos);
		default:
			return MOSQ_ERR_SUCCESS; /* UNSUBSCRIBE: AWS IoT does not authorize it */
	}
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)userdata;
	struct mosquitto_evt_disconnect *ed = event_data;
	/* mosquitto (src/context.c context__disconnect) sends the client's will after this event,
	 * checking it with MOSQ_ACL_WRITE: forget the connection at the next tick only. */
	struct connection *c = find_connection(ed->client);
	if(c) c->closing = 1;
	return MOSQ_ERR_SUCCESS;
}

/* Ask again for every live connection; kick those now refused. */
static void redecide_all(void)
{
	struct list refused = {0};
	for(struct connection *c = connections; c; c = c->next){
		if(c->permissions.full || c->closing) continue;
		struct permissions fresh;
		if(ask(c->certificate_id, c->client_id, NULL, &fresh) == 1){
			ba_permissions_free(&c->permissions);
			c->permissions = fresh;
		}else{
			char *id = strdup(c->client_id);
			if(id) ba_list_add(&refused, id);
		}
	}
	for(struct connection *c = connections; c; c = c->next){
		for(int i = 0; i < refused.count; i++){
			if(!c->closing && !c->end_reason && !strcmp(c->client_id, refused.items[i])){
				c->end_reason = "AUTH_ERROR";
			}
		}
	}
	for(int i = 0; i < refused.count; i++){
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				"buttonrig_auth: %s may no longer connect: disconnecting it", refused.items[i]);
		mosquitto_kick_client_by_clientid(refused.items[i], true);
	}
	ba_list_free(&refused);
}

static void read_invalidations(void)
{
	if(watch_fd < 0){
		watch_fd = open_socket();
		if(watch_fd < 0) return;
		if(send_all(watch_fd, "WATCH\n", 6) < 0 || fcntl(watch_fd, F_SETFL, O_NONBLOCK) < 0){
			close(watch_fd);
			watch_fd = -1;
			return;
		}
		watch_used = 0;
	}
	while(1){
		ssize_t got = recv(watch_fd, watch_buffer + watch_used, sizeof(watch_buffer) - 1 - watch_used, 0);
		if(got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)){
			close(watch_fd);
			watch_fd = -1;
			return;
		}
		if(got < 0) return;
		watch_used += (size_t)got;
		watch_buffer[watch_used] = '\0';
		char *newline;
		while((newline = strchr(watch_buffer, '\n'))){
			*newline = '\0';
			if(!strncmp(watch_buffer, "CHANGED ", 8)){
				char reply[64];
				redecide_all();
				snprintf(reply, sizeof(reply), "APPLIED %.40s\n", watch_buffer + 8);
				send_all(watch_fd, reply, strlen(reply));
			}
			size_t rest = watch_used - (size_t)(newline + 1 - watch_buffer);
			memmove(watch_buffer, newline + 1, rest + 1);
			watch_used = rest;
		}
		if(watch_used >= sizeof(watch_buffer) - 1) watch_used = 0; /* an overlong line: drop it */
	}
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	(void)userdata;
	struct connection *c = connections;
	while(c){
		struct connection *next = c->next;
		if(c->closing){
			if(!c->reported){
				const char *reason = c->end_reason ? c->end_reason : c->will_sent ? "WILL" : "-";
				report_presence("DISCONNECTED", c->certificate_id, c->client_id, reason);
			}
			forget_connection(c->client);
		}
		c = next;
	}
	for(c = connections; c; c = c->next){
		if(c->kick_pending){
			c->kick_pending = 0;
			c->end_reason = "AUTH_ERROR";
			mosquitto_log_printf(MOSQ_LOG_NOTICE,
					"buttonrig_auth: %s asked for a persistent session: disconnecting it", c->client_id);
			mosquitto_kick_client_by_clientid(c->client_id, true);
			break; /* the kick may have removed entries: the rest at the next tick */
		}
	}
	read_invalidations();
	return MOSQ_ERR_SUCCESS;
}

/* ------------------------------------------------------------------ plugin entry points */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	plugin_id = identifier;
	for(int i = 0; i < option_count; i++){
		if(!strcmp(options[i].key, "socket")) socket_path = strdup(options[i].value);
		if(!strcmp(options[i].key, "session_keeper")) session_keeper = strdup(options[i].value);
	}
	if(!socket_path){
		mosquitto_log_printf(MOSQ_LOG_ERR, "buttonrig_auth: plugin_opt_socket is required");
		return MOSQ_ERR_INVAL;
	}
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL)
			|| mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL)
			|| mosquitto_callback_register(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL)
			|| mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL)){
		return MOSQ_ERR_UNKNOWN;
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	while(connections) forget_connection(connections->client);
	drop_request_socket();
	if(watch_fd >= 0) close(watch_fd);
	watch_fd = -1;
	free(socket_path);
	free(session_keeper);
	socket_path = NULL;
	return MOSQ_ERR_SUCCESS;
}
