# The modem simulator's socket commands (never deployed): they open REAL TCP and TLS
# connections from the unix port (socket, ssl), so the firmware's uplink talks to a real
# broker on loopback. Contract: docs/scenario.md (modem.hosts, modem.files) and docs/uplink.md
# "Transports". Hooked into sim/modem_sim.py: the handlers join its command table, the data
# mode after a ">" prompt takes raw bytes (feed), and a power cycle closes every socket.
#
# SIMCom SIM7080G (and SIM7000G firmware with the CA* stack), SIM7080 Series AT Command
# Manual V1.02, chapter "TCP/UDP" and "SSL":
#   AT+CASSLCFG=<cid>,"SSL",<0|1> / ,"CRINDEX",<ctx> / ,"CACERT","<file>"   OK
#   AT+CSSLCFG="SSLVERSION",<ctx>,<ver> / "CONVERT",2,"<file>" / "SNI",<ctx>,"<name>"   OK
#   AT+CAOPEN=<cid>,<pdp>,"TCP","<host>",<port>   OK, then +CAOPEN: <cid>,<result>
#       result 0 ok, 20 cannot resolve host, 21 network not active, 23 remote refused,
#       24 certificate time expired, 25 common name mismatch, 26 name mismatch and time
#       expired, 27 connect failed. The simulator answers every certificate verification
#       failure (unknown CA, wrong name) with 26: mbedTLS reports them as one error.
#   AT+CASEND=<cid>,<len>   ">" , <len> bytes, OK
#   AT+CARECV=<cid>,<len>   +CARECV: <n>,<n bytes>  OK   (n = 0 when nothing is buffered)
#   AT+CACLOSE=<cid>        OK
#   AT+CASTATE?             +CASTATE: <cid>,<state> per socket (0 closed, 1 connected)
#   URCs: +CADATAIND: <cid> when data arrives into an empty buffer; +CASTATE: <cid>,0 when
#   the peer closes the connection (or the network drops it).
import asyncio
import errno
import socket

_MAX_CID = 12  # SIM7080: <cid> 0-12
_RECV_MAX = 1460  # AT+CARECV <readlen> 1-1460
_SEND_MAX = 1460


class _Conn:
    def __init__(self, sock, recv_urc="+CADATAIND: %d", closed_urc="+CASTATE: %d,0", send_ok="OK"):
        self.sock = sock
        self.rx = bytearray()
        self.open = True
        self.recv_urc = recv_urc  # the URC that says data arrived (the dialect's)
        self.closed_urc = closed_urc
        self.send_ok = send_ok  # the final after a payload


class Sockets:
    """The sockets of one simulated modem."""

    def __init__(self, sim):
        self.sim = sim
        self.conns = {}
        self.ssl = {}  # cid -> {"ssl": bool, "cacert": name, "crindex": n}
        self.ctx = {}  # ctx index -> {"sni": name, "ca": name}
        self.converted = set()
        self.want = 0  # raw bytes still expected after a ">" prompt
        self._data = bytearray()
        self._send_cid = None
        self._task = None
        self.opened = 0  # connections made (tests)

    # -- hooks -----------------------------------------------------------------------------
    def reset(self):
        """Power cycle: every connection is gone (the modem's IP stack restarted)."""
        for c in self.conns.values():
            _close(c.sock)
        self.conns = {}
        self.ssl = {}
        self.ctx = {}
        self.want = 0
        self._data = bytearray()

    def feed(self, data):
        """Bytes from the firmware while a payload is expected: take them; returns the rest."""
        k = min(self.want, len(data))
        self._data.extend(data[:k])
        self.want -= k
        if not self.want:
            cid = self._send_cid
            payload = bytes(self._data)
            self._data = bytearray()
            c = self.conns.get(cid)
            ok = c is not None and c.open and self.sim._registered() and _sendall(c.sock, payload)
            self.sim._send([c.send_ok if ok else "SEND FAIL" if c is not None and c.send_ok != "OK" else "ERROR"])
        return data[k:]

    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._poll())

    async def _poll(self):
        # the modem's side of its sockets: read what arrived, say so by URC, notice closes
        while True:
            await asyncio.sleep_ms(20)
            sim = self.sim
            if sim.state != "on" or sim.hung:
                continue
            for cid, c in list(self.conns.items()):
                if not c.open:
                    continue
                if not sim._registered():
                    # out of coverage: the TCP connection times out at the modem
                    self._drop(cid, c)
                    continue
                got = _recv(c.sock)
                if got is None:
                    continue
                if got == b"":
                    self._drop(cid, c)
                    continue
                was_empty = not c.rx
                c.rx.extend(got)
                if was_empty:
                    sim._urc(c.recv_urc % cid)

    def _drop(self, cid, c):
        c.open = False
        _close(c.sock)
        self.sim._urc(c.closed_urc % cid)


def _close(s):
    try:
        s.close()
    except OSError:
        pass


def _recv(s):
    # non-blocking read: bytes, b"" when the peer closed, None when nothing is there
    try:
        d = s.read(2048)
    except OSError as e:
        if e.args and e.args[0] in (errno.EAGAIN, errno.EWOULDBLOCK):
            return None
        return b""
    return d


def _sendall(s, data):
    mv = memoryview(data)
    tries = 0
    while len(mv):
        try:
            n = s.write(mv)
        except OSError as e:
            if e.args and e.args[0] in (errno.EAGAIN, errno.EWOULDBLOCK) and tries < 2000:
                n = None
            else:
                return False
        if n:
            mv = mv[n:]
        else:
            tries += 1
            import time

            time.sleep_ms(1)
    return True


def _args(rest):
    # '=0,0,"TCP","host",1883' -> ['0', '0', 'TCP', 'host', '1883']
    out = []
    for a in rest[1:].split(","):
        a = a.strip()
        if len(a) >= 2 and a[0] == '"' and a[-1] == '"':
            a = a[1:-1]
        out.append(a)
    return out


def _socks(sim):
    s = getattr(sim, "sockets", None)
    if s is None:
        s = Sockets(sim)
        sim.sockets = s
    s.start()
    return s


def _ca_only(sim):
    # the CA* stack: SIM7080G, and SIM7000G firmware that has it (scenario modem.ca_stack)
    if sim.model == "SIM7080G":
        return True
    return sim.model == "SIM7000G" and bool(sim.cfg.get("ca_stack", False))


def _file(sim, name):
    files = sim.cfg.get("files") or {}
    v = files.get(name)
    if v is None:
        return None
    if "-----BEGIN" in v:
        return v.encode()
    with open(v, "rb") as f:
        return f.read()


def _der(pem):
    # MicroPython's mbedTLS takes DER (or NUL-terminated PEM): the base64 between the PEM lines
    if b"-----BEGIN" not in pem:
        return pem
    import binascii

    body = b"".join(ln for ln in pem.split(b"\n") if ln.strip() and not ln.startswith(b"-----"))
    return binascii.a2b_base64(body)


def _h_casslcfg(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CASSLCFG"):])
    cid = int(a[0])
    key = a[1].lower()
    cfg = _socks(sim).ssl.setdefault(cid, {})
    if key == "ssl":
        cfg["ssl"] = a[2] == "1"
    elif key == "crindex":
        cfg["crindex"] = int(a[2])
    elif key == "cacert":
        cfg["cacert"] = a[2]
    else:
        return ["ERROR"]
    return ["OK"]


def _h_csslcfg(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CSSLCFG"):])
    key = a[0].lower()
    s = _socks(sim)
    if key == "sslversion":
        return ["OK"]
    if key == "convert":
        if _file(sim, a[2]) is None:
            return ["ERROR"]  # no such file in the modem's file system
        s.converted.add(a[2])
        return ["OK"]
    if key == "sni":
        s.ctx.setdefault(int(a[1]), {})["sni"] = a[2]
        return ["OK"]
    return ["ERROR"]


def _h_caopen(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CAOPEN"):])
    cid = int(a[0])
    s = _socks(sim)
    if not 0 <= cid <= _MAX_CID or cid in s.conns and s.conns[cid].open:
        return ["ERROR"]
    host, port = a[3], int(a[4])
    cfg = s.ssl.get(cid) or {}
    tls = None
    if cfg.get("ssl"):
        ca_name = cfg.get("cacert")
        tls = (ca_name if ca_name in s.converted else None, (s.ctx.get(cfg.get("crindex", 0)) or {}).get("sni"))
    res = _open(sim, s, cid, host, port, tls)
    return ["+CAOPEN: %d,%d" % (cid, res), "OK"]


def _open(sim, s, cid, host, port, tls, conn=None):
    # (tls: None for plain TCP, else (CA file name or None, server name or None)); returns the
    # SIMCom +CAOPEN result code
    if not (sim._registered() and sim.pdp_active):
        return 21  # network not active
    name = host  # the server name TLS checks, unless AT+CSSLCFG="SNI" set another
    host = (sim.cfg.get("hosts") or {}).get(host, host)
    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError:
        return 20
    if not ai:
        return 20
    sock = socket.socket(ai[0][0], socket.SOCK_STREAM)
    try:
        sock.connect(ai[0][-1])
    except OSError:
        _close(sock)
        return 23
    if tls is not None:
        ca = _file(sim, tls[0]) if tls[0] else None
        if ca is None:
            _close(sock)
            return 27
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_verify_locations(cadata=_der(ca))
        except (OSError, ValueError):
            _close(sock)
            return 27  # not a certificate: the modem's AT+CSSLCFG="CONVERT" would have refused it
        sni = tls[1] or name
        try:
            sock = ctx.wrap_socket(sock, server_hostname=sni)
        except (OSError, ValueError):
            _close(sock)
            return 26
    sock.setblocking(False)
    s.conns[cid] = conn(sock) if conn is not None else _Conn(sock)
    s.opened += 1
    return 0


def _prompt(sim, cid, n):
    # a send command: the ">" prompt, then Sockets.feed takes the n payload bytes
    s = _socks(sim)
    c = s.conns.get(cid)
    if c is None or not c.open or not 0 < n <= _SEND_MAX:
        return ["ERROR"]
    s._send_cid = cid
    s.want = n
    return [">"]


def _take(sim, cid, n):
    # a read command: up to n buffered bytes of the connection, None for a bad request
    c = _socks(sim).conns.get(cid)
    if c is None or not 0 < n <= _RECV_MAX:
        return None
    data = bytes(c.rx[:n])
    c.rx = c.rx[len(data):]
    return data


def _h_casend(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CASEND"):])
    return _prompt(sim, int(a[0]), int(a[1]))


def _h_carecv(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CARECV"):])
    data = _take(sim, int(a[0]), int(a[1]))
    if data is None:
        return ["ERROR"]
    k = len(data)
    # "+CARECV: <n>,<data>" with the data raw on the same line, then OK
    sim._log(">", "+CARECV: %d,<%d bytes>" % (k, k))
    if k:
        sim._mdm.write(b"\r\n+CARECV: %d," % k + data + b"\r\n")
    else:
        sim._mdm.write(b"\r\n+CARECV: 0\r\n")
    return ["OK"]


def _h_caclose(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CACLOSE"):])
    s = _socks(sim)
    c = s.conns.pop(int(a[0]), None)
    if c is None:
        return ["ERROR"]
    _close(c.sock)
    return ["OK"]


def _h_castate(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    s = _socks(sim)
    out = ["+CASTATE: %d,%d" % (cid, 1 if c.open else 0) for cid, c in sorted(s.conns.items())]
    return out + ["OK"]


# ---- Quectel BG95/BG96 (BG95&BG77 TCP/IP Application Note, SSL Application Note) -------------
#   AT+QIOPEN=<ctx>,<id>,"TCP","<host>",<port>,0,0   OK, then +QIOPEN: <id>,<err>
#   AT+QSSLCFG="cacert",<ssl ctx>,"<file>" / "seclevel" / "sslversion" / "sni",<ssl ctx>,1   OK
#   AT+QSSLOPEN=<ctx>,<ssl ctx>,<id>,"<host>",<port>,0   OK, then +QSSLOPEN: <id>,<err>
#   AT+QISEND / AT+QSSLSEND=<id>,<len>   ">" , <len> bytes, SEND OK
#   AT+QIRD / AT+QSSLRECV=<id>,<len>     +QIRD: <n> CR LF <n bytes> CR LF OK
#   AT+QICLOSE / AT+QSSLCLOSE=<id>       OK
#   URCs +QIURC: "recv",<id> / +QSSLURC: "recv",<id>; +QIURC: "closed",<id> / +QSSLURC: ...
# <err> (TCP/IP Application Note, "Summary of Error Codes"): 0 ok, 561 open PDP context failed,
# 565 DNS parse failed, 566 socket connect failed. A TLS verification failure is answered 579
# here (the simulator's choice: a real BG95 reports its SSL errors in the same 5xx range).
_Q_ERR = {0: 0, 20: 565, 21: 561, 23: 566, 26: 579, 27: 579}


def _quectel(sim):
    return sim.m.get("vendor") == "quectel"


def _q_conn(ssl_):
    pre = "+QSSLURC: " if ssl_ else "+QIURC: "
    return lambda sock: _Conn(sock, pre + '"recv",%d', pre + '"closed",%d', "SEND OK")


async def _q_later(sim, line):
    await asyncio.sleep_ms(150)
    sim._urc(line)


def _h_qsslcfg(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QSSLCFG"):])
    c = _socks(sim).ctx.setdefault(int(a[1]), {})
    c[a[0].lower()] = a[2] if len(a) > 2 else ""
    return ["OK"]


def _h_qiopen(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QIOPEN"):])
    cid = int(a[1])
    s = _socks(sim)
    res = _open(sim, s, cid, a[3], int(a[4]), None, _q_conn(False))
    asyncio.create_task(_q_later(sim, "+QIOPEN: %d,%d" % (cid, _Q_ERR.get(res, 566))))
    return ["OK"]


def _h_qsslopen(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QSSLOPEN"):])
    ctx, cid = int(a[1]), int(a[2])
    s = _socks(sim)
    c = s.ctx.get(ctx) or {}
    res = _open(sim, s, cid, a[3], int(a[4]), (c.get("cacert"), None), _q_conn(True))
    asyncio.create_task(_q_later(sim, "+QSSLOPEN: %d,%d" % (cid, _Q_ERR.get(res, 566))))
    return ["OK"]


def _h_qisend(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[line.index("="):])
    return _prompt(sim, int(a[0]), int(a[1]))


def _h_qird(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[line.index("="):])
    data = _take(sim, int(a[0]), int(a[1]))
    if data is None:
        return ["ERROR"]
    k = len(data)
    head = "+QSSLRECV: " if line.upper().startswith("AT+QSSLRECV") else "+QIRD: "
    sim._log(">", head + "%d <%d bytes>" % (k, k))
    sim._mdm.write(b"\r\n" + head.encode() + b"%d\r\n" % k + data + b"\r\n")
    return ["OK"]


def _h_qiclose(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[line.index("="):])
    c = _socks(sim).conns.pop(int(a[0]), None)
    if c is not None:
        _close(c.sock)
    return ["OK"]


HANDLERS = {
    "AT+QSSLCFG": _h_qsslcfg,
    "AT+QIOPEN": _h_qiopen,
    "AT+QSSLOPEN": _h_qsslopen,
    "AT+QISEND": _h_qisend,
    "AT+QSSLSEND": _h_qisend,
    "AT+QIRD": _h_qird,
    "AT+QSSLRECV": _h_qird,
    "AT+QICLOSE": _h_qiclose,
    "AT+QSSLCLOSE": _h_qiclose,
    "AT+CASSLCFG": _h_casslcfg,
    "AT+CSSLCFG": _h_csslcfg,
    "AT+CAOPEN": _h_caopen,
    "AT+CASEND": _h_casend,
    "AT+CARECV": _h_carecv,
    "AT+CACLOSE": _h_caclose,
    "AT+CASTATE": _h_castate,
}
