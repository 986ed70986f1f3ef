/* zcsend PORT BYTES CHUNK -- the C copy's sender (../shared/bench/servers/rawbulk.c "send") with
 * MSG_ZEROCOPY: SO_ZEROCOPY on the socket, each chunk sent with send(..., MSG_ZEROCOPY) from one of
 * 16 rotating buffers, the completion notifications read from the error queue (MSG_ERRQUEUE) before
 * a buffer is used again. Prints the elapsed seconds, like rawbulk, and on stderr how many
 * notifications came and how many of them say the kernel copied the bytes after all
 * (SO_EE_CODE_ZEROCOPY_COPIED), which is what loopback does (Documentation/networking/msg_zerocopy.rst,
 * "Loopback"). This is what IORING_OP_SEND_ZC does on a socket too.
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

static long long completed_through = -1; /* the highest send whose notification came */
static long notifications, copied;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads one notification; waits for it when block is set. Returns 0 when none was there. */
static int reap(int s, int block) {
    for (;;) {
        if (block) {
            struct pollfd p = {s, 0, 0}; /* POLLERR is always reported */
            poll(&p, 1, -1);
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
        struct sock_extended_err *e = (struct sock_extended_err *)CMSG_DATA(cm);
        if (e->ee_errno != 0 || e->ee_origin != SO_EE_ORIGIN_ZEROCOPY) {
            fprintf(stderr, "unexpected error-queue message\n");
            exit(1);
        }
        if (e->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) copied++;
        notifications++;
        completed_through = e->ee_data; /* notifications cover [ee_info, ee_data] */
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
    long long sent = 0, calls = 0; /* each successful send() is one notification number */
    while (sent < total) {
        size_t want = total - sent < (long long)chunk ? (size_t)(total - sent) : chunk;
        char *b = buf[(sent / chunk) % BUFFERS];
        while (calls - completed_through > BUFFERS - 1) reap(s, 1); /* the buffer is free again */
        while (reap(s, 0)) {
        }
        size_t off = 0;
        while (off < want) {
            ssize_t n = send(s, b + off, want - off, MSG_ZEROCOPY);
            if (n < 0 && errno == ENOBUFS) { reap(s, 1); continue; } /* too many notifications pending */
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { perror("send"); return 1; }
            off += (size_t)n;
            calls++;
        }
        sent += (long long)want;
    }
    char ok[4];
    int got = 0;
    while (got < 4) {
        ssize_t n = read(s, ok + got, 4 - got);
        if (n <= 0) break;
        got += (int)n;
    }
    printf("%.6f\n", now() - t0);
    fprintf(stderr, "zero-copy notifications %ld, copied by the kernel %ld\n", notifications, copied);
    return 0;
}
