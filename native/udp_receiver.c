/*
 * The receiving thread's sockets, read many datagrams per system call (recvmmsg).
 *
 * Node's dgram socket reads one datagram per recvmsg and hands each to JavaScript as a new Buffer
 * and a new address object: ~7 us a datagram on the benchmarks' machine, more than nfcapd's whole
 * cost per datagram. Here one call polls the sockets, reads what is waiting (up to 64 datagrams a
 * socket per recvmmsg) into a scratch buffer and packs them, each on an 8-byte boundary, into one
 * output buffer, with a row of integers per datagram. src/ingest/native-receiver.ts loads it (built
 * at install by scripts/build-native.mjs) and src/ingest/receiver.ts falls back to dgram without it.
 *
 * Exports (Node-API, so one build serves every Node version >= 20):
 *   open(host: string, port: number, recvBufferSize: number): [fd, port, recvBuffer]
 *     host: an IPv4 address (an IPv4 socket) or anything else given to inet_pton as IPv6 ('::'
 *     binds every address, IPv4 ones as IPv4-mapped, like dgram's udp6 with ipv6Only false).
 *     recvBuffer is what getsockopt reports (Linux doubles what it grants), like dgram's.
 *   recv(fds: Int32Array, scratch: Uint8Array, out: Uint8Array, meta: Int32Array,
 *        timeoutMs: number): number
 *     Datagrams read; meta holds META_INTS per datagram: socket index in fds, offset in out,
 *     length, family (4 or 6; IPv4-mapped senders as 4), then the address as 4 words in network
 *     order (IPv4: the first). Stops when out cannot hold another datagram of the largest size.
 *   ntop(family: number, a0, a1, a2, a3: number): string   the address as text
 *   close(fd: number): undefined
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define META_INTS 8
#define SLOT 65536 /* larger than any UDP payload: a datagram is never truncated */
#define BATCH 64
#define MAX_SOCKETS 8

static napi_value throw_errno(napi_env env, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int32_t arg_int(napi_env env, napi_value v) {
  int32_t out = 0;
  napi_get_value_int32(env, v, &out);
  return out;
}

static void *typed_data(napi_env env, napi_value v, size_t *bytes) {
  napi_typedarray_type type;
  size_t length, offset;
  void *data = NULL;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return NULL;
  size_t width = type == napi_int32_array ? 4 : 1;
  *bytes = length * width;
  return data;
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[64];
  size_t hostLen = 0;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLen) != napi_ok) {
    napi_throw_type_error(env, NULL, "host must be a string");
    return NULL;
  }
  int port = arg_int(env, argv[1]);
  int rcvbuf = arg_int(env, argv[2]);

  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sslen;
  int family;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    family = AF_INET;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    sslen = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    family = AF_INET6;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    sslen = sizeof *in6;
  } else {
    napi_throw_error(env, NULL, "host is not an IP address");
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket");
  int zero = 0;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, "bind");
  }
  struct sockaddr_storage bound;
  socklen_t boundLen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &boundLen);
  int boundPort = ntohs(family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                          : ((struct sockaddr_in6 *)&bound)->sin6_port);
  int granted = 0;
  socklen_t glen = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &glen);

  napi_value result, v;
  napi_create_array_with_length(env, 3, &result);
  napi_create_int32(env, fd, &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, boundPort, &v);
  napi_set_element(env, result, 1, v);
  napi_create_int32(env, granted, &v);
  napi_set_element(env, result, 2, v);
  return result;
}

static napi_value Recv(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t fdsBytes = 0, scratchBytes = 0, outBytes = 0, metaBytes = 0;
  int32_t *fds = typed_data(env, argv[0], &fdsBytes);
  uint8_t *scratch = typed_data(env, argv[1], &scratchBytes);
  uint8_t *out = typed_data(env, argv[2], &outBytes);
  int32_t *meta = typed_data(env, argv[3], &metaBytes);
  int timeout = arg_int(env, argv[4]);
  size_t nfds = fdsBytes / 4;
  if (!fds || !scratch || !out || !meta || nfds == 0 || nfds > MAX_SOCKETS || scratchBytes < (size_t)SLOT * BATCH) {
    napi_throw_type_error(env, NULL, "recv(fds, scratch >= 4 MiB, out, meta, timeoutMs)");
    return NULL;
  }
  size_t maxCount = metaBytes / 4 / META_INTS;

  struct pollfd pfds[MAX_SOCKETS];
  for (size_t i = 0; i < nfds; i++) {
    pfds[i].fd = fds[i];
    pfds[i].events = POLLIN;
    pfds[i].revents = 0;
  }
  int ready = poll(pfds, nfds, timeout);
  if (ready < 0 && errno != EINTR) return throw_errno(env, "poll");

  static __thread struct mmsghdr msgs[BATCH];
  static __thread struct iovec iov[BATCH];
  static __thread struct sockaddr_in6 from[BATCH];
  size_t count = 0, at = 0;
  for (size_t s = 0; ready > 0 && s < nfds; s++) {
    /* A pending socket error (POLLERR) is read too: recvmmsg reports and clears it, so a
       poll that keeps waking on it cannot spin. */
    if (!(pfds[s].revents & (POLLIN | POLLERR))) continue;
    for (;;) {
      size_t room = (outBytes - at) / SLOT; /* datagrams surely fitting in out */
      size_t want = maxCount - count;
      if (want > room) want = room;
      if (want > BATCH) want = BATCH;
      if (want == 0) break;
      for (size_t i = 0; i < want; i++) {
        iov[i].iov_base = scratch + i * SLOT;
        iov[i].iov_len = SLOT;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      }
      int n = recvmmsg(fds[s], msgs, (unsigned)want, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        /* Datagrams already read this call are handed over; the error (now cleared) is not. */
        if (count > 0) goto done;
        return throw_errno(env, "recvmmsg");
      }
      for (int i = 0; i < n; i++) {
        size_t len = msgs[i].msg_len;
        memcpy(out + at, scratch + (size_t)i * SLOT, len);
        int32_t *m = meta + count * META_INTS;
        m[0] = (int32_t)s;
        m[1] = (int32_t)at;
        m[2] = (int32_t)len;
        const struct sockaddr *sa = (const struct sockaddr *)&from[i];
        if (sa->sa_family == AF_INET) {
          m[3] = 4;
          memcpy(&m[4], &((const struct sockaddr_in *)sa)->sin_addr, 4);
          m[5] = m[6] = m[7] = 0;
        } else {
          const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
          if (IN6_IS_ADDR_V4MAPPED(a)) {
            m[3] = 4;
            memcpy(&m[4], &a->s6_addr[12], 4);
            m[5] = m[6] = m[7] = 0;
          } else {
            m[3] = 6;
            memcpy(&m[4], a->s6_addr, 16);
          }
        }
        at += (len + 7) & ~(size_t)7;
        count++;
      }
      if ((size_t)n < want) break; /* the socket is drained */
    }
  }
done:;
  napi_value result;
  napi_create_uint32(env, (uint32_t)count, &result);
  return result;
}

static napi_value Ntop(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int family = arg_int(env, argv[0]);
  int32_t words[4];
  for (int i = 0; i < 4; i++) words[i] = arg_int(env, argv[i + 1]);
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, words, text, sizeof text)) return throw_errno(env, "inet_ntop");
  napi_value result;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  close(arg_int(env, argv[0]));
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, Recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ntop", NULL, Ntop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() { return Init(env, exports); }
