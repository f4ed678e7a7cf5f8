/* wire_harness.h - helpers shared by the iSCSI wire tests: server process control and raw PDU exchange. */
#ifndef SOFTHBA_TESTS_ISCSI_WIRE_HARNESS_H
#define SOFTHBA_TESTS_ISCSI_WIRE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "iscsi/pdu.h"

#define TARGET "iqn.2024-01.org.softhba:wire"
#define INITIATOR "iqn.2024-01.org.softhba:client"

struct cli {
	int fd;
	bool hd;        /* header digest on */
	bool dd;        /* data digest on */
	bool dd_bad;    /* send the next data segment with a wrong data digest */
	uint32_t cmdsn;
	uint32_t itt;
	uint16_t tsih;
	uint16_t cid;
	uint8_t isid[6];
};

struct pdu {
	uint8_t bhs[48];
	uint8_t data[300000];
	uint32_t dlen;
};

extern struct pdu g_pdu;
extern uint16_t g_port;

/* cmocka group setup/teardown: fork the server (a clean exit is checked at teardown). */
int setup_server(void **state);
int teardown_server(void **state);

int cli_connect(void);
void cli_open(struct cli *c, const char *extra, uint8_t isid_last);
void cli_close(struct cli *c);
void send_all(int fd, const void *buf, size_t len);
void send_pdu(struct cli *c, const uint8_t *bhs, const void *data, uint32_t dlen);
/* Receive one PDU within timeout_ms: 0, or -1 on close/timeout. */
int recv_pdu(struct cli *c, struct pdu *p, int timeout_ms);
/* True when the target closes the connection (after any PDUs still in flight). */
bool peer_closed(struct cli *c, int timeout_ms);
/* "k=v|k=v" to NUL-separated text. */
void text_of(char *out, size_t cap, uint32_t *len, const char *s);
/* One login request CSG 1 -> NSG 3; returns the status (0xffff: no answer). */
uint16_t login_once(struct cli *c, const char *keys, uint8_t vmin);
/* A login request with explicit flags; the answer lands in g_pdu. */
int login_raw(struct cli *c, uint8_t flags, const char *keys);
void clear_ua(struct cli *c);
void scsi_cmd(struct cli *c, uint8_t flags, uint32_t itt, uint32_t edtl, const uint8_t *cdb, int cdblen,
	      const void *imm, uint32_t immlen);
void data_out(struct cli *c, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t off, const void *d, uint32_t len,
	      bool final);
void cdb_rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t blocks);
uint8_t expect_rsp(struct cli *c, uint32_t itt);
void nop_ping(struct cli *c, uint32_t itt);
/* NOP ping that also answers the target's own pings. */
void ping_answering(struct cli *c, uint32_t itt);

#endif
