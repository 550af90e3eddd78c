/* A lean HTTP load generator for bench/status_services.py: one process, one epoll loop, CONCURRENCY
 * requests in flight, so nearly all CPU is left to the servers under test (a Python generator spends
 * more per request than the responders do). It sends complete, prepared requests in turn and counts the
 * answers whose status line says 200.
 *
 *   loadgen REQUESTS HOST PORT CONCURRENCY SECONDS KEEPALIVE
 *
 * REQUESTS is a file of requests, each a 4-byte little-endian length followed by the raw HTTP request.
 * KEEPALIVE 0: a new connection per request, read to EOF (the server closes, as HTTP/1.0 has it).
 * KEEPALIVE 1: persistent connections; each answer is read by its Content-Length.
 * Prints "OK ERRORS ELAPSED_SECONDS". At the end, requests in flight are finished (not counted) rather than
 * abandoned: openssl 3.0's responder spins forever on a connection that closes before sending a request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536

typedef struct {
    const char *data;
    uint32_t length;
} request_t;

typedef struct {
    int fd;
    int writing;
    size_t request;
    uint32_t sent;
    size_t used;
    char buffer[BUFFER];
} slot_t;

static request_t *requests;
static size_t request_count, next_request;
static struct sockaddr_in address;
static int epoll_fd, keep_alive, draining, active;
static long ok, errors;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void load_requests(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) { perror(path); exit(2); }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *all = malloc(size);
    if (fread(all, 1, size, file) != (size_t)size) { perror("read"); exit(2); }
    fclose(file);
    size_t capacity = 16;
    requests = malloc(capacity * sizeof *requests);
    for (long at = 0; at + 4 <= size;) {
        uint32_t length = (uint8_t)all[at] | (uint8_t)all[at + 1] << 8 | (uint8_t)all[at + 2] << 16 |
                          (uint32_t)(uint8_t)all[at + 3] << 24;
        at += 4;
        if ((size_t)at + length > (size_t)size) { fprintf(stderr, "truncated requests file\n"); exit(2); }
        if (request_count == capacity) requests = realloc(requests, (capacity *= 2) * sizeof *requests);
        requests[request_count++] = (request_t){all + at, length};
        at += length;
    }
    if (!request_count) { fprintf(stderr, "no requests\n"); exit(2); }
}

static void watch(slot_t *slot, int op, uint32_t events) {
    struct epoll_event event = {.events = events, .data.ptr = slot};
    if (epoll_ctl(epoll_fd, op, slot->fd, &event) < 0) { perror("epoll_ctl"); exit(2); }
}

static void start_request(slot_t *slot) {
    slot->request = next_request++ % request_count;
    slot->sent = 0;
    slot->used = 0;
    slot->writing = 1;
}

static void open_connection(slot_t *slot) {
    slot->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (slot->fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(slot->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(slot->fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(2);
    }
    start_request(slot);
    watch(slot, EPOLL_CTL_ADD, EPOLLOUT);
}

static void reconnect(slot_t *slot) {
    close(slot->fd);
    if (draining) {
        slot->fd = -1;
        active--;
        return;
    }
    open_connection(slot);
}

static void count(int success) {
    if (draining) return;
    if (success) ok++; else errors++;
}

static int status_ok(const slot_t *slot) {
    return slot->used > 12 && memcmp(slot->buffer, "HTTP/1.", 7) == 0 && memcmp(slot->buffer + 8, " 200", 4) == 0;
}

/* For keep-alive: the length of the whole answer once its head is in (else 0), and whether the server
 * closes the connection after it. */
static size_t answer_length(const slot_t *slot, int *closes) {
    const char *end = memmem(slot->buffer, slot->used, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end + 4 - slot->buffer, body = 0;
    *closes = memcmp(slot->buffer, "HTTP/1.0", 8) == 0;
    for (const char *line = slot->buffer; line < end;) {
        const char *next = memmem(line, end + 2 - line, "\r\n", 2);
        if (!next) break;
        if (next - line > 15 && strncasecmp(line, "content-length:", 15) == 0)
            body = strtoul(line + 15, NULL, 10);
        if (next - line >= 11 && strncasecmp(line, "connection:", 11) == 0)
            *closes = memmem(line, next - line, "close", 5) != NULL;
        line = next + 2;
    }
    return head + body;
}

static void on_event(slot_t *slot, uint32_t events) {
    if (slot->writing) {
        const request_t *request = &requests[slot->request];
        ssize_t n = send(slot->fd, request->data + slot->sent, request->length - slot->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) return;
            count(0);
            reconnect(slot);
            return;
        }
        slot->sent += n;
        if (slot->sent == request->length) {
            slot->writing = 0;
            watch(slot, EPOLL_CTL_MOD, EPOLLIN);
        }
        return;
    }
    (void)events;
    ssize_t n = recv(slot->fd, slot->buffer + slot->used, BUFFER - slot->used, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n > 0) slot->used += n;
    if (keep_alive && n > 0) {
        int closes = 0;
        size_t length = answer_length(slot, &closes);
        if (!length || slot->used < length) {
            if (slot->used == BUFFER) { count(0); reconnect(slot); }
            return;
        }
        count(status_ok(slot));
        if (closes || draining) { reconnect(slot); return; } /* a server without keep-alive: a new connection */
        start_request(slot);
        watch(slot, EPOLL_CTL_MOD, EPOLLOUT);
        return;
    }
    if (n > 0 && slot->used < BUFFER) return; /* read to EOF */
    count(!keep_alive && n == 0 && status_ok(slot) && memmem(slot->buffer, slot->used, "\r\n\r\n", 4));
    reconnect(slot);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s REQUESTS HOST PORT CONCURRENCY SECONDS KEEPALIVE\n", argv[0]);
        return 2;
    }
    load_requests(argv[1]);
    address.sin_family = AF_INET;
    address.sin_port = htons(atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &address.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
    int concurrency = atoi(argv[4]);
    double seconds = atof(argv[5]);
    keep_alive = atoi(argv[6]);
    epoll_fd = epoll_create1(0);
    slot_t *slots = calloc(concurrency, sizeof *slots);
    double started = now(), end = started + seconds;
    for (int i = 0; i < concurrency; i++) open_connection(&slots[i]);
    active = concurrency;
    struct epoll_event events[256];
    double current = started;
    while ((current = now()) < end) {
        int ready = epoll_wait(epoll_fd, events, 256, 100);
        for (int i = 0; i < ready; i++) on_event(events[i].data.ptr, events[i].events);
    }
    draining = 1;
    double elapsed = current - started;
    while (active > 0 && now() < end + 10) {
        int ready = epoll_wait(epoll_fd, events, 256, 100);
        for (int i = 0; i < ready; i++) on_event(events[i].data.ptr, events[i].events);
    }
    printf("%ld %ld %.3f\n", ok, errors, elapsed);
    return 0;
}
