/* config_syntax.c - value syntaxes of the configuration: sizes, portals, iSCSI names, and "did you mean" hints. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"

static int why_fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t whylen, const char *fmt, ...)
{
	if (why && whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- sizes ---- */

static const struct {
	const char *suffix;
	unsigned shift;
} size_suffixes[] = {
	{ "", 0 },   { "K", 10 }, { "KiB", 10 }, { "M", 20 }, { "MiB", 20 }, { "G", 30 },
	{ "GiB", 30 }, { "T", 40 }, { "TiB", 40 }, { "P", 50 }, { "PiB", 50 },
};

int config_parse_size(const char *s, uint64_t *out, char *why, size_t whylen)
{
	const char *p = s;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return why_fail(why, whylen,
				"\"%s\" is not a size; write a number of bytes or a number with a binary suffix, "
				"e.g. \"4096\", \"512MiB\", \"1GiB\"", s);
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return why_fail(why, whylen, "\"%s\" is too large", s);
		v = v * 10 + d;
		p++;
	}
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof(size_suffixes) / sizeof(size_suffixes[0]); i++) {
		if (strcasecmp(p, size_suffixes[i].suffix) != 0)
			continue;
		unsigned sh = size_suffixes[i].shift;
		if (sh && v > (UINT64_MAX >> sh))
			return why_fail(why, whylen, "\"%s\" is too large", s);
		*out = v << sh;
		return 0;
	}
	return why_fail(why, whylen,
			"\"%s\" has an unknown suffix \"%s\"; use K/KiB, M/MiB, G/GiB, T/TiB or P/PiB "
			"(powers of 1024)", s, p);
}

/* ---- portals ---- */

static int parse_port(const char *s, const char *all, uint16_t *out, char *why, size_t whylen)
{
	unsigned long v = 0;
	if (!*s)
		return why_fail(why, whylen, "\"%s\" has no port after the colon; e.g. \"127.0.0.1:3260\"", all);
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return why_fail(why, whylen, "\"%s\": port \"%s\" is not a number from 0 to 65535", all, s);
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return why_fail(why, whylen, "\"%s\": port %s is above 65535", all, s);
	}
	*out = (uint16_t)v;
	return 0;
}

int config_parse_portal(const char *s, struct cfg_portal *out, char *why, size_t whylen)
{
	struct cfg_portal p = { 0 };
	char host[CFG_HOST_MAX + 8];
	const char *port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return why_fail(why, whylen, "\"%s\": missing ']' after the IPv6 address, e.g. \"[::1]:3260\"", s);
		size_t hl = (size_t)(close - s - 1);
		if (close[1] != ':')
			return why_fail(why, whylen, "\"%s\": write the port after the brackets, e.g. \"[::1]:3260\"", s);
		if (hl == 0 || hl >= sizeof(host))
			return why_fail(why, whylen, "\"%s\": not a numeric IPv6 address in brackets", s);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return why_fail(why, whylen, "\"%s\": \"%s\" is not a numeric IPv6 address", s, host);
		inet_ntop(AF_INET6, &a6, p.host, sizeof(p.host));
		p.ipv6 = true;
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon)
			return why_fail(why, whylen, "\"%s\" has no port; write HOST:PORT, e.g. \"127.0.0.1:3260\"", s);
		if (strchr(s, ':') != colon)
			return why_fail(why, whylen, "\"%s\": put an IPv6 address in brackets, e.g. \"[::1]:3260\"", s);
		size_t hl = (size_t)(colon - s);
		if (hl == 0)
			return why_fail(why, whylen,
					"\"%s\" has no host; use \"0.0.0.0%s\" for every IPv4 address or "
					"\"127.0.0.1%s\" for this machine only", s, colon, colon);
		if (hl >= sizeof(host))
			return why_fail(why, whylen, "\"%s\": host is not a numeric IPv4 address", s);
		memcpy(host, s, hl);
		host[hl] = '\0';
		struct in_addr a4;
		if (inet_pton(AF_INET, host, &a4) != 1)
			return why_fail(why, whylen,
					"\"%s\": \"%s\" is not a numeric IPv4 address (host names are not "
					"resolved); e.g. \"127.0.0.1:3260\", or \"[::1]:3260\" for IPv6", s, host);
		inet_ntop(AF_INET, &a4, p.host, sizeof(p.host));
		port = colon + 1;
	}
	int rc = parse_port(port, s, &p.port, why, whylen);
	if (rc)
		return rc;
	*out = p;
	return 0;
}

void config_format_portal(const struct cfg_portal *p, uint16_t port, char *buf, size_t len)
{
	if (p->ipv6)
		snprintf(buf, len, "[%s]:%u", p->host, (unsigned)port);
	else
		snprintf(buf, len, "%s:%u", p->host, (unsigned)port);
}

/* ---- iSCSI names (RFC 7143 4.2.7) ---- */

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return s[n] == '\0';
}

static int check_iqn(const char *name, const char *shown, char *why, size_t whylen)
{
	const char *p = name + 4;
	const char *eg = "e.g. iqn.2026-11.org.example:disk1";

	for (int i = 0; i < 7; i++) {
		bool ok = i == 4 ? p[i] == '-' : isdigit((unsigned char)p[i]);
		if (!ok)
			return why_fail(why, whylen,
					"\"%s\": \"iqn.\" must be followed by the date yyyy-mm when the naming "
					"authority owned its domain, then '.', then the domain reversed; %s", shown, eg);
	}
	int month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12)
		return why_fail(why, whylen, "\"%s\": month %.2s is not 01..12", shown, p + 5);
	p += 7;
	if (*p != '.')
		return why_fail(why, whylen, "\"%s\": the date must be followed by '.' and the reversed domain; %s",
				shown, eg);
	p++;
	const char *colon = strchr(p, ':');
	const char *end = colon ? colon : p + strlen(p);
	if (p == end)
		return why_fail(why, whylen, "\"%s\": the reversed domain name after the date is missing; %s", shown,
				eg);
	const char *label = p;
	for (const char *q = p; q <= end; q++) {
		if (q == end || *q == '.') {
			if (q == label)
				return why_fail(why, whylen, "\"%s\": empty label in the domain part \"%.*s\"", shown,
						(int)(end - p), shown + (p - name));
			label = q + 1;
		}
	}
	if (colon && colon[1] == '\0')
		return why_fail(why, whylen, "\"%s\": nothing follows ':'; remove the colon or add a unique string",
				shown);
	return 0;
}

/* Checks name (already lower-case); messages quote shown (what the user wrote). */
static int check_name_lower(const char *name, const char *shown, char *why, size_t whylen)
{
	size_t len = strlen(name);

	if (len == 0)
		return why_fail(why, whylen, "the name is empty; e.g. iqn.2026-11.org.example:disk1");
	if (len > CFG_ISCSI_NAME_MAX)
		return why_fail(why, whylen, "the name is %zu bytes long; iSCSI names are at most %u (RFC 7143 4.2.7.1)",
				len, CFG_ISCSI_NAME_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if ((c >= 'a' && c <= 'z') || isdigit(c) || c == '.' || c == '-' || c == ':')
			continue;
		if (isprint(c))
			return why_fail(why, whylen,
					"\"%s\": character '%c' is not allowed; iSCSI names use a-z, 0-9, '.', '-' "
					"and ':'", shown, c);
		return why_fail(why, whylen,
				"\"%s\": byte 0x%02x is not allowed; iSCSI names use a-z, 0-9, '.', '-' and ':'",
				shown, c);
	}
	if (strncmp(name, "iqn.", 4) == 0)
		return check_iqn(name, shown, why, whylen);
	if (strncmp(name, "eui.", 4) == 0) {
		if (len != 20 || !all_hex(name + 4, 16))
			return why_fail(why, whylen, "\"%s\": \"eui.\" must be followed by exactly 16 hex digits "
					"(an EUI-64), e.g. eui.02004567a425678d", shown);
		return 0;
	}
	if (strncmp(name, "naa.", 4) == 0) {
		if ((len != 20 && len != 36) || !all_hex(name + 4, len - 4))
			return why_fail(why, whylen, "\"%s\": \"naa.\" must be followed by 16 or 32 hex digits, "
					"e.g. naa.52004567ba64678d", shown);
		return 0;
	}
	return why_fail(why, whylen,
			"\"%s\" must start with \"iqn.\", \"eui.\" or \"naa.\" (RFC 7143 4.2.7), "
			"e.g. iqn.2026-11.org.example:disk1", shown);
}

int config_check_iscsi_name(const char *name, char *why, size_t whylen)
{
	bool upper = false;
	for (const char *p = name; *p; p++)
		upper |= (*p >= 'A' && *p <= 'Z');
	if (!upper)
		return check_name_lower(name, name, why, whylen);
	char *low = strdup(name);
	if (!low)
		return why_fail(why, whylen, "\"%s\": iSCSI names are lower-case", name);
	for (char *p = low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* Well formed apart from case: tell exactly what to write. */
	int rc = check_name_lower(low, name, why, whylen);
	if (rc == 0)
		rc = why_fail(why, whylen, "\"%s\": iSCSI names are lower-case; write \"%s\"", name, low);
	free(low);
	return rc;
}

/* ---- "did you mean" ---- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *config_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t limit = strlen(word) / 3 + 1;

	if (limit > 3)
		limit = 3;
	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	if (best_d <= limit)
		return best;
	/* A key cut short or run on ("max_recv_data_segment"): the one candidate it is a prefix of. */
	size_t wl = strlen(word);
	const char *pre = NULL;
	for (size_t i = 0; i < n && wl >= 4; i++) {
		size_t cl = strlen(candidates[i]);
		size_t m = wl < cl ? wl : cl;
		if (strncasecmp(word, candidates[i], m) == 0) {
			if (pre)
				return NULL; /* ambiguous */
			pre = candidates[i];
		}
	}
	return pre;
}
