/* tls-handshakes: a load client that makes every request on a new TLS connection with a
 * full handshake, for the "new handshakes" rows of bench/tls-bench.sh.
 *
 *   tls-handshakes HOST PORT CONNS SECONDS [1.2|1.3]
 *
 * CONNS connections run at once on one thread (epoll). Each one connects, does a TLS
 * handshake, sends "GET / HTTP/1.1" with "Connection: close", reads until the server closes,
 * checks the answer (status 200, body "Hello, World!") and starts over on a new socket with
 * a new SSL object. Sessions are never offered for resumption (client session cache off, no
 * tickets asked for, a fresh SSL object per connection), so every handshake is a full one
 * whatever the server's session settings; the "resumed" count below proves it stays 0.
 * wrk with -H 'Connection: close' does reconnect per request over https, but it keeps the
 * last session in its SSL object (SSL_clear) and offers it again, so a server that allows
 * resumption would do abbreviated handshakes under wrk and full ones under its peers.
 *
 * The run stops SECONDS after the start (connections still open then are dropped, not
 * counted); one connection that gets no answer for 10 s is dropped and counted as an error.
 * Last line of stdout:
 *   handshakes=N seconds=S rate=R errors=E bad=B resumed=U protocol=P cipher=C
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

enum state { IDLE, CONNECTING, HANDSHAKE, WRITING, READING };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    double started;
    size_t got;
    char head[512]; /* the first bytes of the answer, enough for the status line and body */
};

static const char request[] =
    "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tls-handshakes\r\nConnection: close\r\n\r\n";

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int ep;
static long ok, errors, bad, resumed;
static char protocol[32] = "-", cipher[64] = "-";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void drop(struct conn *c) {
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->st = IDLE;
}

static void fail(struct conn *c) {
    errors++;
    ERR_clear_error();
    drop(c);
}

static void finish(struct conn *c) {
    size_t n = c->got < sizeof c->head ? c->got : sizeof c->head - 1;
    c->head[n] = 0;
    if (strncmp(c->head, "HTTP/1.1 200", 12) == 0 && strstr(c->head, "Hello, World!"))
        ok++;
    else
        bad++;
    if (SSL_session_reused(c->ssl)) resumed++;
    if (protocol[0] == '-') {
        snprintf(protocol, sizeof protocol, "%s", SSL_get_version(c->ssl));
        snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(c->ssl));
    }
    drop(c);
}

static void start(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { fail(c); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->started = now();
    c->got = 0;
    c->st = CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        fail(c);
        return;
    }
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) { fail(c); return; }
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail(c);
}

/* Drives one connection as far as it goes without blocking. */
static void step(struct conn *c) {
    int r, e;
    if (c->st == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == EINPROGRESS) return;
        if (err) { fail(c); return; }
        c->st = HANDSHAKE;
    }
    if (c->st == HANDSHAKE) {
        r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            fail(c);
            return;
        }
        c->st = WRITING;
    }
    if (c->st == WRITING) {
        r = SSL_write(c->ssl, request, sizeof request - 1);
        if (r <= 0) {
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            fail(c);
            return;
        }
        c->st = READING;
    }
    if (c->st == READING) {
        char buf[16384];
        for (;;) {
            r = SSL_read(c->ssl, buf, sizeof buf);
            if (r > 0) {
                if (c->got < sizeof c->head - 1) {
                    size_t take = sizeof c->head - 1 - c->got;
                    if (take > (size_t)r) take = (size_t)r;
                    memcpy(c->head + c->got, buf, take);
                }
                c->got += (size_t)r;
                continue;
            }
            e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            if (e == SSL_ERROR_ZERO_RETURN && c->got > 0) { finish(c); return; }
            fail(c);
            return;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS [1.2|1.3]\n", argv[0]);
        return 2;
    }
    int nconns = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (nconns < 1 || nconns > 4096 || seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "CONNS must be 1-4096 and SECONDS 0-3600\n");
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "HOST must be an IPv4 address\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return 1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* a throwaway self-signed certificate */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (argc > 5) {
        int v = strcmp(argv[5], "1.2") == 0 ? TLS1_2_VERSION : strcmp(argv[5], "1.3") == 0 ? TLS1_3_VERSION : 0;
        if (!v) { fprintf(stderr, "version must be 1.2 or 1.3\n"); return 2; }
        SSL_CTX_set_min_proto_version(ctx, v);
        SSL_CTX_set_max_proto_version(ctx, v);
    }

    ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    struct epoll_event *evs = calloc((size_t)nconns, sizeof *evs);
    if (ep < 0 || !conns || !evs) return 1;
    for (int i = 0; i < nconns; i++) { conns[i].fd = -1; conns[i].st = IDLE; }

    double t0 = now(), end = t0 + seconds, t = t0, last_sweep = t0;
    for (int i = 0; i < nconns; i++) start(&conns[i]);
    while (t < end) {
        int ms = (int)((end - t) * 1000) + 1;
        if (ms > 10) ms = 10;
        int n = epoll_wait(ep, evs, nconns, ms);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->st != IDLE) step(c);
            if (c->st == IDLE && now() < end) start(c);
        }
        t = now();
        if (t - last_sweep >= 0.01) { /* restart failed slots, time out silent ones */
            last_sweep = t;
            for (int i = 0; i < nconns; i++) {
                struct conn *c = &conns[i];
                if (c->st != IDLE && t - c->started > 10) fail(c);
                if (c->st == IDLE && t < end) start(c);
            }
        }
    }
    double elapsed = t - t0;
    for (int i = 0; i < nconns; i++) drop(&conns[i]);
    printf("handshakes=%ld seconds=%.3f rate=%.1f errors=%ld bad=%ld resumed=%ld protocol=%s cipher=%s\n",
           ok, elapsed, ok / elapsed, errors, bad, resumed, protocol, cipher);
    return ok > 0 ? 0 : 1;
}
