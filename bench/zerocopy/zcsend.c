/* zcsend PORT BYTES CHUNK -- the C copy's sender (../shared/bench/servers/rawbulk.c "send") with
 * MSG_ZEROCOPY: SO_ZEROCOPY on the socket, each chunk sent with send(..., MSG_ZEROCOPY) from one of
 * 16 rotating buffers, a buffer used again only once the kernel's completion notifications (read
 * from the error queue, MSG_ERRQUEUE, in whatever order they come) cover every send made from it.
 * Waits for the receiver's "OK\r\n" as rawbulk does (exit 1 without it), prints the elapsed seconds,
 * and on stderr how many sends were made, how many were notified, and how many of those the kernel
 * copied after all (SO_EE_CODE_ZEROCOPY_COPIED), which is what loopback does
 * (Documentation/networking/msg_zerocopy.rst, "Loopback"). IORING_OP_SEND_ZC takes the same path.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFERS 16
#define WINDOW 4096 /* notification numbers tracked at once; far more than can be in flight */

static unsigned char done[WINDOW];    /* done[id % WINDOW]: the notification for send number id came */
static unsigned long long low;        /* every send numbered below this one is complete */
static unsigned long long ids, copied; /* send numbers notified, and those the kernel copied after all */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads one notification (a range [ee_info, ee_data] of send numbers, which may come out of order on
 * retransmission or teardown); waits for it when block is set. Returns 0 when none was there. */
static int reap(int s, int block) {
    for (;;) {
        if (block) {
            struct pollfd p = {s, 0, 0}; /* POLLERR is always reported */
            if (poll(&p, 1, 10000) == 0) {
                fprintf(stderr, "no zero-copy notification in 10 s\n");
                exit(1);
            }
        }
        char control[128];
        struct msghdr m = {0};
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        if (recvmsg(s, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
            if (errno == EAGAIN && block) continue;
            if (errno == EAGAIN) return 0;
            perror("recvmsg(MSG_ERRQUEUE)");
            exit(1);
        }
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        if (!cm || cm->cmsg_level != SOL_IP || cm->cmsg_type != IP_RECVERR) {
            fprintf(stderr, "unexpected error-queue message\n");
            exit(1);
        }
        struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(cm);
        if (e->ee_errno != 0 || e->ee_origin != SO_EE_ORIGIN_ZEROCOPY) {
            fprintf(stderr, "unexpected error-queue message\n");
            exit(1);
        }
        /* the numbers are 32-bit and wrap; this run's are below 2^32 */
        for (unsigned long long id = e->ee_info; id <= e->ee_data; id++) done[id % WINDOW] = 1;
        ids += (unsigned long long)e->ee_data - e->ee_info + 1;
        if (e->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) copied += (unsigned long long)e->ee_data - e->ee_info + 1;
        while (done[low % WINDOW]) done[low++ % WINDOW] = 0;
        return 1;
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT BYTES CHUNK\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long long total = atoll(argv[2]);
    size_t chunk = (size_t)atol(argv[3]);
    char *buf[BUFFERS];
    unsigned long long until[BUFFERS] = {0}; /* a buffer is free once low reaches until[b] */
    for (int i = 0; i < BUFFERS; i++) {
        buf[i] = malloc(chunk);
        if (!buf[i]) return 1;
        memset(buf[i], 'x', chunk);
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) != 0) {
        perror("SO_ZEROCOPY");
        return 1;
    }
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("connect");
        return 1;
    }
    double t0 = now();
    long long sent = 0;
    unsigned long long calls = 0; /* each successful send() is one notification number */
    for (long long k = 0; sent < total; k++) {
        size_t want = total - sent < (long long)chunk ? (size_t)(total - sent) : chunk;
        int b = (int)(k % BUFFERS);
        while (low < until[b]) reap(s, 1); /* the kernel may still read this buffer */
        while (reap(s, 0)) {
        }
        size_t off = 0;
        while (off < want) {
            ssize_t n = send(s, buf[b] + off, want - off, MSG_ZEROCOPY);
            if (n < 0 && errno == ENOBUFS) { reap(s, 1); continue; } /* too many notifications pending */
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { perror("send"); return 1; }
            off += (size_t)n;
            calls++;
        }
        until[b] = calls;
        sent += (long long)want;
    }
    char ok[4];
    int got = 0;
    while (got < 4) {
        ssize_t n = read(s, ok + got, 4 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (int)n;
    }
    double secs = now() - t0;
    if (got != 4 || memcmp(ok, "OK\r\n", 4) != 0) {
        fprintf(stderr, "no ack from the receiver\n");
        return 1;
    }
    while (low < calls) reap(s, 1); /* the last notifications, for the counts */
    printf("%.6f\n", secs);
    fprintf(stderr, "sends %llu, notified %llu, copied by the kernel %llu\n", calls, ids, copied);
    return 0;
}
