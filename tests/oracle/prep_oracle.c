/*
 * Byte oracle for src/prep.ts: runs liburing's own inline io_uring_prep_* helpers on a fixed table of
 * argument sets and prints each resulting SQE as "<case-name> <128 hex chars>" (memory order).
 * tests/prep_oracle_test.ts replays the same table (same names, same order) through the TS preps.
 *
 * Every SQE starts as 0xA5 bytes so a field a helper leaves alone (user_data, always) stays visible,
 * and a field the TS side forgets to write shows up as a mismatch. Pointers are bare addresses:
 * nothing is dereferenced.
 *
 * Build: gcc -O0 -Wall -o prep_oracle tests/oracle/prep_oracle.c
 */
#include <liburing.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 6.10; liburing 2.3's header predates it. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

#define P(a) ((void *)(uintptr_t)(a))
#define ADDR 0x7fffdeadbeefULL /* both 32-bit halves non-zero */
#define ADDR_MAX48 0xffffffffffffULL
#define MAX_SAFE 0x1fffffffffffffULL /* 2^53 - 1: the largest u64 a JS number holds exactly */
#define UD52 ((1ULL << 52) + 7)

/* No liburing 2.3 helper exists for these; this is the idiom setBufferSelect/setBundle mirror. */
static void set_buffer_select(struct io_uring_sqe *sqe, int bgid)
{
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = (__u16)bgid;
}

static void set_bundle(struct io_uring_sqe *sqe)
{
	sqe->ioprio |= IORING_RECVSEND_BUNDLE;
}

/* sqe->optlen (6.17's multishot byte limit) shares its place with file_index, which 2.3's header names. */
static void set_multishot_limit(struct io_uring_sqe *sqe, unsigned bytes)
{
	sqe->file_index = bytes;
}

static void emit(const char *name, const struct io_uring_sqe *sqe)
{
	const unsigned char *b = (const unsigned char *)sqe;

	printf("%s ", name);
	for (size_t i = 0; i < sizeof(*sqe); i++)
		printf("%02x", b[i]);
	putchar('\n');
}

/* The body may hold several statements; it prepares &sqe. */
#define CASE(name, ...)                              \
	do {                                         \
		memset(&sqe, 0xA5, sizeof(sqe));     \
		__VA_ARGS__;                         \
		emit(name, &sqe);                    \
	} while (0)

int main(void)
{
	struct io_uring_sqe sqe;

	_Static_assert(sizeof(sqe) == 64, "struct io_uring_sqe must be 64 bytes");

	CASE("rw/zeros", io_uring_prep_rw(IORING_OP_NOP, &sqe, 0, NULL, 0, 0));
	CASE("rw/edge", io_uring_prep_rw(255, &sqe, -1, P(ADDR), 0xffffffffU, (__u64)-1));
	CASE("rw/readv_2_32", io_uring_prep_rw(IORING_OP_READV, &sqe, 3, P(0x1000), 4, 1ULL << 32));

	CASE("nop", io_uring_prep_nop(&sqe));

	CASE("read/basic", io_uring_prep_read(&sqe, 3, P(ADDR), 4096, 0));
	CASE("read/edge", io_uring_prep_read(&sqe, -1, P(ADDR), 0xffffffffU, (__u64)-1));
	CASE("read/max_safe", io_uring_prep_read(&sqe, 0x7fffffff, P(ADDR_MAX48), 1, MAX_SAFE));

	CASE("write/basic", io_uring_prep_write(&sqe, 4, P(ADDR), 512, 0xffffffffULL));
	CASE("write/edge", io_uring_prep_write(&sqe, -1, P(ADDR_MAX48), 0xffffffffU, (__u64)-1));

	CASE("recv/basic", io_uring_prep_recv(&sqe, 5, P(ADDR), 1500, 0));
	CASE("recv/edge", io_uring_prep_recv(&sqe, -1, P(ADDR), 0xffffffffU, -1));
	CASE("recv/waitall", io_uring_prep_recv(&sqe, 5, NULL, 0, MSG_WAITALL));

	CASE("recv_multishot/bufsel", io_uring_prep_recv_multishot(&sqe, 7, NULL, 0, 0));
	CASE("recv_multishot/edge", io_uring_prep_recv_multishot(&sqe, -1, P(ADDR), 0xffffffffU, -1));

	CASE("send/basic", io_uring_prep_send(&sqe, 5, P(ADDR), 1500, MSG_NOSIGNAL));
	CASE("send/edge", io_uring_prep_send(&sqe, -1, P(ADDR_MAX48), 0xffffffffU, -1));

	CASE("send_zc/basic", io_uring_prep_send_zc(&sqe, 5, P(ADDR), 65536, 0, 0));
	CASE("send_zc/flags",
	     io_uring_prep_send_zc(&sqe, 5, P(ADDR), 100, MSG_NOSIGNAL,
				   IORING_RECVSEND_POLL_FIRST | IORING_RECVSEND_FIXED_BUF));
	/* zc_flags is unsigned but lands in the 16-bit ioprio: truncated to 0xffff. */
	CASE("send_zc/edge", io_uring_prep_send_zc(&sqe, -1, P(ADDR), 0xffffffffU, -1, 0xffffffffU));

	CASE("recvmsg/basic", io_uring_prep_recvmsg(&sqe, 4, P(ADDR), 0));
	CASE("recvmsg/edge", io_uring_prep_recvmsg(&sqe, -1, P(ADDR_MAX48), 0xffffffffU));

	CASE("recvmsg_multishot/basic", io_uring_prep_recvmsg_multishot(&sqe, 4, P(ADDR), 0));
	CASE("recvmsg_multishot/edge", io_uring_prep_recvmsg_multishot(&sqe, -1, P(ADDR_MAX48), 0xffffffffU));

	CASE("sendmsg/basic", io_uring_prep_sendmsg(&sqe, 4, P(ADDR), MSG_NOSIGNAL));
	CASE("sendmsg/edge", io_uring_prep_sendmsg(&sqe, -1, P(ADDR_MAX48), 0xffffffffU));
	CASE("sendmsg_zc/basic", io_uring_prep_sendmsg_zc(&sqe, 4, P(ADDR), MSG_NOSIGNAL));
	CASE("sendmsg_zc/edge", io_uring_prep_sendmsg_zc(&sqe, -1, P(ADDR_MAX48), 0xffffffffU));

	CASE("accept/null", io_uring_prep_accept(&sqe, 3, NULL, NULL, 0));
	CASE("accept/cloexec", io_uring_prep_accept(&sqe, 3, P(ADDR), P(ADDR + 16), SOCK_CLOEXEC | SOCK_NONBLOCK));
	CASE("accept/edge", io_uring_prep_accept(&sqe, -1, P(ADDR), P(ADDR_MAX48), -1));

	CASE("multishot_accept/null", io_uring_prep_multishot_accept(&sqe, 3, NULL, NULL, 0));
	CASE("multishot_accept/edge", io_uring_prep_multishot_accept(&sqe, -1, P(ADDR), P(ADDR_MAX48), -1));

	CASE("connect/basic", io_uring_prep_connect(&sqe, 3, P(ADDR), 16));
	CASE("connect/edge", io_uring_prep_connect(&sqe, -1, P(ADDR_MAX48), 0xffffffffU));

	CASE("close/basic", io_uring_prep_close(&sqe, 3));
	CASE("close/minus1", io_uring_prep_close(&sqe, -1));
	CASE("close/int_max", io_uring_prep_close(&sqe, 0x7fffffff));

	CASE("poll_add/errhup", io_uring_prep_poll_add(&sqe, 3, 0x18));
	CASE("poll_add/edge", io_uring_prep_poll_add(&sqe, -1, 0xffffffffU));
	CASE("poll_multishot/errhup", io_uring_prep_poll_multishot(&sqe, 3, 0x18));

	CASE("shutdown/rdwr", io_uring_prep_shutdown(&sqe, 3, SHUT_RDWR));
	CASE("shutdown/edge", io_uring_prep_shutdown(&sqe, -1, -1));

	CASE("timeout/basic", io_uring_prep_timeout(&sqe, P(ADDR), 0, 0));
	CASE("timeout/abs", io_uring_prep_timeout(&sqe, P(ADDR), 1, IORING_TIMEOUT_ABS));
	CASE("timeout/edge", io_uring_prep_timeout(&sqe, P(ADDR_MAX48), 0xffffffffU, 0xffffffffU));

	CASE("timeout_remove/zero", io_uring_prep_timeout_remove(&sqe, 0, 0));
	CASE("timeout_remove/edge", io_uring_prep_timeout_remove(&sqe, UD52, 0xffffffffU));

	CASE("link_timeout/basic", io_uring_prep_link_timeout(&sqe, P(ADDR), 0));
	CASE("link_timeout/edge", io_uring_prep_link_timeout(&sqe, P(ADDR_MAX48), 0xffffffffU));

	CASE("msg_ring/basic", io_uring_prep_msg_ring(&sqe, 7, 42, UD52, 0));
	CASE("msg_ring/edge", io_uring_prep_msg_ring(&sqe, -1, 0xffffffff, MAX_SAFE, 0xffffffff));
	CASE("cancel64/ud52", io_uring_prep_cancel64(&sqe, UD52, 0));
	CASE("cancel64/all", io_uring_prep_cancel64(&sqe, 1, IORING_ASYNC_CANCEL_ALL));
	CASE("cancel64/edge", io_uring_prep_cancel64(&sqe, MAX_SAFE, -1));

	CASE("cancel_fd/basic", io_uring_prep_cancel_fd(&sqe, 3, 0));
	CASE("cancel_fd/all", io_uring_prep_cancel_fd(&sqe, 5, IORING_ASYNC_CANCEL_ALL));
	CASE("cancel_fd/edge", io_uring_prep_cancel_fd(&sqe, -1, 0xffffffffU));

	CASE("provide_buffers/basic", io_uring_prep_provide_buffers(&sqe, P(ADDR), 4096, 64, 0, 0));
	CASE("provide_buffers/edge", io_uring_prep_provide_buffers(&sqe, P(ADDR), -1, 65536, 65535, 65535));
	/* Out-of-range ints: bgid truncates to u16, a negative bid sign-extends into the u64 off. */
	CASE("provide_buffers/wrap", io_uring_prep_provide_buffers(&sqe, P(ADDR_MAX48), 1, -1, 65539, -1));

	CASE("remove_buffers/basic", io_uring_prep_remove_buffers(&sqe, 64, 0));
	CASE("remove_buffers/edge", io_uring_prep_remove_buffers(&sqe, 0x7fffffff, 65535));

	CASE("socket/tcp", io_uring_prep_socket(&sqe, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0));
	CASE("socket/udp6", io_uring_prep_socket(&sqe, AF_INET6, SOCK_DGRAM, IPPROTO_UDP, 0));
	/* A negative type sign-extends into the u64 off, a negative protocol wraps into len. */
	CASE("socket/edge", io_uring_prep_socket(&sqe, -1, -1, -1, 0xffffffffU));

	CASE("recv+buffer_select/bgid0", io_uring_prep_recv(&sqe, 5, NULL, 0, 0); set_buffer_select(&sqe, 0));
	CASE("recv+buffer_select/edge",
	     io_uring_prep_recv(&sqe, -1, NULL, 0xffffffffU, MSG_WAITALL); set_buffer_select(&sqe, 65535));

	CASE("recv_multishot+bundle/plain", io_uring_prep_recv_multishot(&sqe, 5, NULL, 0, 0); set_bundle(&sqe));
	CASE("recv_multishot+bundle/bufsel",
	     io_uring_prep_recv_multishot(&sqe, 5, NULL, 0, 0); set_buffer_select(&sqe, 65535); set_bundle(&sqe));
	CASE("recv_multishot+limit/bufsel",
	     io_uring_prep_recv_multishot(&sqe, 5, NULL, 0, 0); set_buffer_select(&sqe, 3); set_multishot_limit(&sqe, 65536));
	CASE("recv_multishot+limit/edge",
	     io_uring_prep_recv_multishot(&sqe, 5, NULL, 0, 0); set_multishot_limit(&sqe, 0x7fffffffU));

	return 0;
}
