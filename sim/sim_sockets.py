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
#   AT+CSSLCFG="CONVERT",1,"<cert>","<key>" / AT+CASSLCFG=<cid>,"CERT","<cert>"   OK:
#       mutual TLS, the connection presents that client certificate (Python ssl load_cert_chain)
#   Parameter names in any case (the firmware sends them in lower case, sock_simcom.py says why).
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
    def __init__(self, sock, recv_urc="+CADATAIND: %d", closed_urc="+CASTATE: %d,0", send_ok="OK",
                 send_report=None, push=None):
        self.sock = sock
        self.rx = bytearray()
        self.open = True
        self.recv_urc = recv_urc  # the URC that says data arrived (the dialect's; %d: the id)
        self.closed_urc = closed_urc
        self.send_ok = send_ok  # the final after a payload
        self.send_report = send_report  # a line after it ("+CIPSEND: %d,%d,%d"), or None
        self.push = push  # None: data waits to be read; else f(cid, data): written to the UART
        self.ready = True  # False until an open's result URC is out: no data URC before it


class Sockets:
    """The sockets of one simulated modem."""

    def __init__(self, sim):
        self.sim = sim
        self.conns = {}
        self.ssl = {}  # cid -> {"ssl": bool, "cacert": name, "crindex": n}
        self.ctx = {}  # ctx index -> {"sni": name, "ca": name}
        self.converted = set()
        self.client_keys = {}  # client certificate name -> its key's name (CONVERT 1)
        self.want = 0  # raw bytes still expected after a ">" prompt
        self._data = bytearray()
        self._send_cid = None
        self._sink = None
        self.fs = {}  # name -> bytes written by the firmware (AT+CFSWFILE, AT+CCERTDOWN, AT+QFUPL);
        # kept across power cycles: it is the modem's flash
        self.cip = "IP INITIAL"  # SIM7000 CIP stack state (AT+CIPSTATUS)
        self.cip_manual = False  # AT+CIPRXGET=1 (SIM7000, A76XX)
        self.netopen = False  # A76XX AT+NETOPEN
        self.cch = False  # A76XX AT+CCHSTART
        self.cch_manual = False  # A76XX AT+CCHSET=<report>,1
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
        self._sink = None
        self.cip = "IP INITIAL"
        self.cip_manual = self.netopen = self.cch = self.cch_manual = False

    def feed(self, data):
        """Bytes from the firmware while a payload is expected: take them; returns the rest."""
        k = min(self.want, len(data))
        self._data.extend(data[:k])
        self.want -= k
        if not self.want:
            payload = bytes(self._data)
            self._data = bytearray()
            sink = self._sink
            self._sink = None
            if sink is not None:
                self.sim._send(sink(payload))
                return data[k:]
            cid = self._send_cid
            c = self.conns.get(cid)
            ok = c is not None and c.open and self.sim._registered() and _sendall(c.sock, payload)
            if ok:
                out = [c.send_ok]
                if c.send_report:
                    out.append(c.send_report % (cid, len(payload), len(payload)))
            else:
                out = ["SEND FAIL" if c is not None and c.send_ok != "OK" else "ERROR"]
            self.sim._send(out)
        return data[k:]

    def expect(self, n, sink):
        """The next n raw bytes from the firmware go to sink(payload) -> lines to answer (a file
        written into the modem's file system)."""
        self.want = n
        self._sink = sink

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
                if not c.open or not c.ready:
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
                if c.push is not None:
                    c.push(cid, got)
                    continue
                was_empty = not c.rx
                c.rx.extend(got)
                if was_empty:
                    sim._urc(_fmt(c.recv_urc, cid))

    def _drop(self, cid, c):
        c.open = False
        _close(c.sock)
        self.sim._urc(_fmt(c.closed_urc, cid))


def _fmt(urc, cid):
    return urc % cid if "%" in urc else urc  # the SIM7000 CIP stack's URCs carry no id


def _close(s):
    try:
        s.close()
    except OSError:
        pass


_RXBUF = bytearray(2048)  # one read buffer: a 2 KB read every 20 ms per socket fragmented the
# heap a virtual board shares with its simulation until the poll task died of MemoryError
_RXVIEW = memoryview(_RXBUF)


def _recv(s):
    # non-blocking read: bytes, b"" when the peer closed, None when nothing is there. (EAGAIN
    # only: MicroPython's errno has no EWOULDBLOCK, the same value on Linux; naming it raised
    # AttributeError here, which killed the simulator's socket task under load.)
    try:
        n = s.readinto(_RXBUF)
    except OSError as e:
        if e.args and e.args[0] == errno.EAGAIN:
            return None
        return b""
    if n is None:
        return None
    return bytes(_RXVIEW[:n])


def _sendall(s, data):
    mv = memoryview(data)
    tries = 0
    while len(mv):
        try:
            n = s.write(mv)
        except OSError as e:
            if e.args and e.args[0] == errno.EAGAIN and tries < 2000:  # (see _recv)
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
    got = getattr(sim, "sockets", None)
    if got is not None and name in got.fs:
        return got.fs[name]  # written over AT by the firmware (cell/certs.py)
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
    elif key == "cert":
        cfg["cert"] = a[2]
    else:
        return ["ERROR"]  # e.g. "CLIENTCERT": no such parameter
    return ["OK"]


def _h_csslcfg(sim, rest, line):
    if _a76(sim):
        return _a76_csslcfg(sim, line)
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
        if a[1] == "1":  # a client certificate and its key
            if len(a) < 4 or _file(sim, a[3]) is None:
                return ["ERROR"]
            s.client_keys[a[2]] = a[3]
            return ["OK"]
        s.converted.add(a[2])
        return ["OK"]
    if key == "sni":
        s.ctx.setdefault(int(a[1]), {})["sni"] = a[2]
        return ["OK"]
    return ["ERROR"]


def _h_caopen(sim, rest, line):
    if not _ca_only(sim):
        return ["ERROR"]
    if rest == "=?":  # the test command: the SIM7000G firmware check (cell/vendor/sock_simcom.py)
        return ['+CAOPEN: (0-12),(0-3),("TCP","UDP"),"ADDRESS",(1-65535)', "OK"]
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
        cc = cfg.get("cert")
        tls = (ca_name if ca_name in s.converted else None, (s.ctx.get(cfg.get("crindex", 0)) or {}).get("sni"),
               (cc, s.client_keys[cc]) if cc in s.client_keys else None)
    res = _open(sim, s, cid, host, port, tls)
    return ["+CAOPEN: %d,%d" % (cid, res), "OK"]


def _open(sim, s, cid, host, port, tls, conn=None, bearer=None):
    # (tls: None for plain TCP, else (CA file name or None, server name or None[, (client cert
    # file name, key file name) or None: mutual TLS])); returns the
    # SIMCom +CAOPEN result code. bearer: the stack's own bearer state (default: the PDP context)
    if not (sim._registered() and (sim.pdp_active if bearer is None else bearer)):
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
        pair = tls[2] if len(tls) > 2 else None
        if pair is not None:
            cert, key = _file(sim, pair[0]), _file(sim, pair[1])
            try:
                ctx.load_cert_chain(_der(cert), _der(key))  # pyright: ignore[reportArgumentType]
            except (OSError, ValueError, TypeError):
                _close(sock)
                return 27  # not a certificate and key: the modem would have refused them
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


async def _q_later(sim, line, key=None):
    # an open's result URC, a little after OK; the connection's own URCs only after it
    await asyncio.sleep_ms(150)
    sim._urc(line)
    c = sim.sockets.conns.get(key) if key is not None else None
    if c is not None:
        c.ready = True


def _later_open(sim, s, key, line):
    c = s.conns.get(key)
    if c is not None:
        c.ready = False
    asyncio.create_task(_q_later(sim, line, key))


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
    _later_open(sim, s, cid, "+QIOPEN: %d,%d" % (cid, _Q_ERR.get(res, 566)))
    return ["OK"]


def _h_qsslopen(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QSSLOPEN"):])
    ctx, cid = int(a[1]), int(a[2])
    s = _socks(sim)
    c = s.ctx.get(ctx) or {}
    # "seclevel" 2: server and client authentication, with "clientcert" / "clientkey"
    pair = (c.get("clientcert"), c.get("clientkey")) if c.get("seclevel") == "2" else None
    if pair is not None and not (_file(sim, pair[0] or "") and _file(sim, pair[1] or "")):
        res = 27
    else:
        res = _open(sim, s, cid, a[3], int(a[4]), (c.get("cacert"), None, pair), _q_conn(True))
    _later_open(sim, s, cid, "+QSSLOPEN: %d,%d" % (cid, _Q_ERR.get(res, 566)))
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



# ---- the modem's file system for TLS material (cell/certs.py) ---------------------------------
# SIM7080G: AT+CFSINIT, AT+CFSWFILE=<index>,"<name>",<mode>,<size>,<timeout ms> -> DOWNLOAD,
#   <size> bytes, OK; AT+CFSTERM (SIM7080 Series AT Command Manual, "AT Commands for FS":
#   <index> 3 is /customer/, <size> at most 10240; AT+CFSDFILE=3,"<name>" deletes). SIM7000G the
#   same (SIM7000 manual, FS).
# A76XX: AT+CCERTDOWN="<name>",<len> -> ">", <len> bytes, OK (A76XX manual, SSL chapter: names
#   end .pem or .der, at most 10240 bytes); AT+CCERTLIST lists them, AT+CCERTDELE="<name>" deletes.
# Quectel: AT+QFUPL="<name>",<size>,<timeout s> -> CONNECT, <size> bytes, +QFUPL: <size>,<sum>
#   OK (BG95 / EC200U FILE Application Note; <sum> the XOR of the 16-bit words, big-endian).
_FILE_MAX = 10240


def _store(sim, name, n, done):
    s = _socks(sim)

    def sink(payload):
        s.fs[name] = payload
        return done(payload)

    s.expect(n, sink)


def _h_cfsinit(sim, rest, line):
    if sim.m.get("vendor") != "simcom" or _a76(sim):
        return ["ERROR"]
    _socks(sim).cfs = True
    return ["OK"]


def _h_cfsterm(sim, rest, line):
    if sim.m.get("vendor") != "simcom" or _a76(sim):
        return ["ERROR"]
    _socks(sim).cfs = False
    return ["OK"]


def _h_cfswfile(sim, rest, line):
    s = _socks(sim)
    if sim.m.get("vendor") != "simcom" or _a76(sim) or not getattr(s, "cfs", False):
        return ["ERROR"]  # AT+CFSINIT first (the manual: the FS buffer is allocated there)
    a = _args(line[len("AT+CFSWFILE"):])
    idx, name, n = int(a[0]), a[1], int(a[3])
    if idx != 3 or not 0 < n <= _FILE_MAX:
        return ["ERROR"]
    _store(sim, name, n, lambda p: ["OK"])
    return ["DOWNLOAD"]


def _h_cfsdfile(sim, rest, line):
    s = _socks(sim)
    if sim.m.get("vendor") != "simcom" or _a76(sim) or not getattr(s, "cfs", False):
        return ["ERROR"]
    a = _args(line[len("AT+CFSDFILE"):])
    return ["OK"] if s.fs.pop(a[1], None) is not None else ["ERROR"]


def _h_ccertdele(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCERTDELE"):])
    return ["OK"] if _socks(sim).fs.pop(a[0], None) is not None else ["ERROR"]


def _h_ccertdown(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCERTDOWN"):])
    name, n = a[0], int(a[1])
    if not (name.endswith(".pem") or name.endswith(".der")) or not 0 < n <= _FILE_MAX:
        return ["ERROR"]
    _store(sim, name, n, lambda p: ["OK"])
    return [">"]


def _h_ccertlist(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    return ['+CCERTLIST: "%s"' % n for n in sorted(_socks(sim).fs)] + ["OK"]


def qfupl_sum(data):
    """The +QFUPL checksum: XOR of the data's 16-bit big-endian words (odd tail padded with 0)."""
    x = 0
    for i in range(0, len(data), 2):
        w = data[i] << 8
        if i + 1 < len(data):
            w |= data[i + 1]
        x ^= w
    return x


def _h_qfupl(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QFUPL"):])
    name, n = a[0], int(a[1])
    if name.upper().startswith("UFS:"):
        name = name[4:]
    if not 0 < n <= _FILE_MAX * 10:
        return ["ERROR"]
    if name in _socks(sim).fs:
        return ["+CME ERROR: 407"]  # file already exists (Quectel FILE AN error codes)
    _store(sim, name, n, lambda p: ["+QFUPL: %d,%x" % (len(p), qfupl_sum(p)), "OK"])
    return ["CONNECT"]


def _h_qfdel(sim, rest, line):
    if not _quectel(sim):
        return ["ERROR"]
    a = _args(line[len("AT+QFDEL"):])
    name = a[0][4:] if a[0].upper().startswith("UFS:") else a[0]
    if _socks(sim).fs.pop(name, None) is None:
        return ["+CME ERROR: 405"]  # file not found (Quectel FILE AN error codes)
    return ["OK"]


# ---- SIMCom A76XX (A7670, A7680C): A76XX Series AT Command Manual V1.11 -----------------------
#   AT+CIPRXGET=1 manual receive (else data is pushed: +RECEIVE,<link>,<len> CR LF <data>)
#   AT+NETOPEN  OK, +NETOPEN: 0 (already open: +IP ERROR: Network is already opened, ERROR)
#   AT+CIPOPEN=<link>,"TCP","<host>",<port>  OK, +CIPOPEN: <link>,<err>
#       (0 ok, 2 network not opened, 11 DNS parse failed, 12 unknown error: refused here)
#   AT+CIPSEND=<link>,<len>  ">", <len> bytes, OK, +CIPSEND: <link>,<len>,<len>
#   AT+CIPRXGET=2,<link>,<len>  +CIPRXGET: 2,<link>,<n>,<rest> CR LF <n bytes> CR LF OK
#       (nothing buffered: +IP ERROR: No data, ERROR)
#   AT+CIPCLOSE=<link>  OK, +CIPCLOSE: <link>,0; URC +IPCLOSE: <link>,1 (closed by the peer)
#   AT+CSSLCFG="sslversion"|"authmode"|"cacert"|"enableSNI"|"clientcert"|"clientkey",<ctx>,<v>
#   AT+CCHSET=<report>,<recv mode 1: manual, +CCHEVENT: <session>,RECV EVENT>
#   AT+CCHSTART OK, +CCHSTART: 0 (started already: ERROR); AT+CCHSTOP OK, +CCHSTOP: 0
#   AT+CCHSSLCFG=<session>,<ctx>
#   AT+CCHOPEN=<session>,"<host>",<port>,2  OK, +CCHOPEN: <session>,<err> (0 ok, 9 network
#       error, 13 DNS, 14 connect, 15 handshake: every certificate failure here)
#   AT+CCHSEND=<session>,<len>  ">", <len> bytes, OK
#   AT+CCHRECV=<session>,<len>  OK, +CCHRECV: DATA,<session>,<n> CR LF <n bytes>, then
#       +CCHRECV: <session>,0
#   AT+CCHCLOSE=<session>  OK, +CCHCLOSE: <session>,0; URC +CCH_PEER_CLOSED: <session>
_A76_ERR = {0: 0, 20: 11, 21: 2, 23: 12, 26: 15, 27: 15}  # _open's SIMCom code -> +CIPOPEN <err>
_CCH_ERR = {0: 0, 20: 13, 21: 9, 23: 14, 26: 15, 27: 15}  # -> +CCHOPEN <err>


def _a76(sim):
    return sim.model in ("A7670", "A7680C")


def _a76_csslcfg(sim, line):
    a = _args(line[len("AT+CSSLCFG"):])
    key = a[0].lower()
    if key not in ("sslversion", "authmode", "cacert", "enablesni", "clientcert", "clientkey", "ignorelocaltime"):
        return ["ERROR"]
    c = _socks(sim).ctx.setdefault(int(a[1]), {})
    if key in ("cacert", "clientcert", "clientkey") and _file(sim, a[2]) is None:
        return ["ERROR"]  # the manual: the file must have been downloaded with AT+CCERTDOWN
    c[key] = a[2]
    return ["OK"]


def _a76_push(sim):
    def push(cid, data):
        sim._log(">", "+RECEIVE,%d,%d <%d bytes>" % (cid, len(data), len(data)))
        sim._mdm.write(b"\r\n+RECEIVE,%d,%d\r\n" % (cid, len(data)) + data)

    return push


def _h_netopen(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    s = _socks(sim)
    if rest == "?":
        return ["+NETOPEN: %d" % (1 if s.netopen else 0), "OK"]
    if s.netopen:
        return ["+IP ERROR: Network is already opened", "ERROR"]
    ok = sim._registered() and sim.pdp_active
    s.netopen = ok
    asyncio.create_task(_q_later(sim, "+NETOPEN: %d" % (0 if ok else 1)))
    return ["OK"]


def _h_netclose(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    s = _socks(sim)
    s.netopen = False
    asyncio.create_task(_q_later(sim, "+NETCLOSE: 0"))
    return ["OK"]


def _h_cipopen(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CIPOPEN"):])
    cid = int(a[0])
    s = _socks(sim)
    if not 0 <= cid <= 9 or a[1].upper() != "TCP" or cid in s.conns and s.conns[cid].open:
        return ["ERROR"]
    push = None if s.cip_manual else _a76_push(sim)
    def conn(sock):
        return _Conn(sock, "+CIPRXGET: 1,%d", "+IPCLOSE: %d,1", "OK", "+CIPSEND: %d,%d,%d", push)
    res = _open(sim, s, cid, a[2], int(a[3]), None, conn, s.netopen)
    _later_open(sim, s, cid, "+CIPOPEN: %d,%d" % (cid, _A76_ERR.get(res, 12)))
    return ["OK"]


def _h_cipsend(sim, rest, line):
    a = _args(line[len("AT+CIPSEND"):])
    if _a76(sim):
        return _prompt(sim, int(a[0]), int(a[1]))
    if sim.model == "SIM7000G":
        return _prompt(sim, 0, int(a[0]))  # one connection (AT+CIPMUX=0)
    return ["ERROR"]


def _h_ciprxget(sim, rest, line):
    a = _args(line[len("AT+CIPRXGET"):])
    s = _socks(sim)
    a76 = _a76(sim)
    if not (a76 or sim.model == "SIM7000G"):
        return ["ERROR"]
    mode = int(a[0])
    if mode in (0, 1):
        s.cip_manual = mode == 1
        return ["OK"]
    if mode != 2:
        return ["ERROR"]
    cid, n = (int(a[1]), int(a[2])) if a76 else (0, int(a[1]))
    c = s.conns.get(cid)
    if c is None:
        return ["ERROR"]
    if not c.rx:
        return ["+IP ERROR: No data", "ERROR"] if a76 else ["+CIPRXGET: 2,0,0", "OK"]
    data = _take(sim, cid, n)
    if data is None:
        return ["ERROR"]
    k = len(data)
    head = "+CIPRXGET: 2,%d,%d,%d" % (cid, k, len(c.rx)) if a76 else "+CIPRXGET: 2,%d,%d" % (k, len(c.rx))
    sim._log(">", head + " <%d bytes>" % k)
    sim._mdm.write(b"\r\n" + head.encode() + b"\r\n" + data + b"\r\n")
    return ["OK"]


def _h_cipclose(sim, rest, line):
    s = _socks(sim)
    if _a76(sim):
        cid = int(_args(line[len("AT+CIPCLOSE"):])[0])
        c = s.conns.pop(cid, None)
        if c is None:
            return ["ERROR"]
        _close(c.sock)
        asyncio.create_task(_q_later(sim, "+CIPCLOSE: %d,0" % cid))
        return ["OK"]
    if sim.model == "SIM7000G":
        c = s.conns.pop(0, None)
        if c is None:
            return ["ERROR"]
        _close(c.sock)
        s.cip = "IP CLOSE"
        return ["CLOSE OK"]
    return ["ERROR"]


def _h_cchset(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCHSET"):])
    _socks(sim).cch_manual = len(a) > 1 and a[1] == "1"
    return ["OK"]


def _h_cchstart(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    s = _socks(sim)
    if s.cch:
        return ["ERROR"]
    s.cch = True
    asyncio.create_task(_q_later(sim, "+CCHSTART: 0"))
    return ["OK"]


def _h_cchstop(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    s = _socks(sim)
    s.cch = False
    return ["OK", "+CCHSTOP: 0"]


def _h_cchsslcfg(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCHSSLCFG"):])
    _socks(sim).ssl.setdefault(int(a[0]), {})["crindex"] = int(a[1])
    return ["OK"]


def _h_cchopen(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCHOPEN"):])
    cid = int(a[0])
    s = _socks(sim)
    key = 100 + cid  # CCH sessions beside the CIPOPEN links in one table
    if not s.cch or not 0 <= cid <= 1 or key in s.conns and s.conns[key].open or a[3] != "2":
        return ["ERROR"]
    ctx = s.ctx.get((s.ssl.get(cid) or {}).get("crindex", 0)) or {}
    # authmode 1: the server is checked; 2: and the client certificate/key are presented
    pair = (ctx.get("clientcert"), ctx.get("clientkey")) if ctx.get("authmode") == "2" else None
    tls = (ctx.get("cacert"), None, pair) if ctx.get("authmode", "0") != "0" else None
    if pair is not None and not (pair[0] and pair[1]):
        asyncio.create_task(_q_later(sim, "+CCHOPEN: %d,15" % cid))  # authmode 2 without the files
        return ["OK"]
    if tls is None:
        # authmode 0 would talk TLS without checking the server: the firmware never asks that,
        # and the simulator has no unverified TLS client, so it refuses the session
        asyncio.create_task(_q_later(sim, "+CCHOPEN: %d,15" % cid))
        return ["OK"]
    def conn(sock):
        return _Conn(sock, "+CCHEVENT: %d,RECV EVENT" % cid, "+CCH_PEER_CLOSED: %d" % cid, "OK",
                                  None, None if s.cch_manual else _cch_push(sim, cid))
    res = _open(sim, s, key, a[1], int(a[2]), tls, conn)
    _later_open(sim, s, key, "+CCHOPEN: %d,%d" % (cid, _CCH_ERR.get(res, 14)))
    return ["OK"]


def _cch_push(sim, cid):
    def push(_key, data):
        sim._mdm.write(b"\r\n+CCHRECV: DATA,%d,%d\r\n" % (cid, len(data)) + data)

    return push


def _h_cchsend(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCHSEND"):])
    return _prompt(sim, 100 + int(a[0]), int(a[1]))


def _h_cchrecv(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    a = _args(line[len("AT+CCHRECV"):])
    cid = int(a[0])
    n = int(a[1]) if len(a) > 1 else _RECV_MAX
    data = _take(sim, 100 + cid, min(n, _RECV_MAX))
    if data is None:
        return ["+CCHRECV: %d,11" % cid, "ERROR"]  # 11: state error (no such session)
    sim._send(["OK"])
    if data:
        sim._log(">", "+CCHRECV: DATA,%d,%d <%d bytes>" % (cid, len(data), len(data)))
        sim._mdm.write(b"\r\n+CCHRECV: DATA,%d,%d\r\n" % (cid, len(data)) + data)
    return ["+CCHRECV: %d,0" % cid]


def _h_cchclose(sim, rest, line):
    if not _a76(sim):
        return ["ERROR"]
    cid = int(_args(line[len("AT+CCHCLOSE"):])[0])
    c = _socks(sim).conns.pop(100 + cid, None)
    if c is None:
        return ["ERROR"]
    _close(c.sock)
    asyncio.create_task(_q_later(sim, "+CCHCLOSE: %d,0" % cid))
    return ["OK"]


# ---- SIM7000G firmware without the CA* commands: the CIP stack ----------------------------------
# SIM7000 Series AT Command Manual V1.03, chapter 8 "AT Commands for TCPIP Application Toolkit",
# one connection (AT+CIPMUX=0). States (AT+CIPSTATUS): IP INITIAL -AT+CSTT-> IP START -AT+CIICR->
# IP GPRSACT -AT+CIFSR-> IP STATUS -AT+CIPSTART-> CONNECT OK (or IP CLOSE); AT+CIPSHUT -> IP
# INITIAL from any state. AT+CIPSTART answers OK, then CONNECT OK / CONNECT FAIL. Data waits
# for AT+CIPRXGET=2,<len> after AT+CIPRXGET=1 (URC "+CIPRXGET: 1"), else it is written to the
# UART as it comes. AT+CIPSSL: not there (the firmware refuses TLS on this stack).


def _sim7000(sim):
    return sim.model == "SIM7000G"


def _h_cipshut(sim, rest, line):
    if not _sim7000(sim):
        return ["ERROR"]
    s = _socks(sim)
    c = s.conns.pop(0, None)
    if c is not None:
        _close(c.sock)
    s.cip = "IP INITIAL"
    return ["SHUT OK"]


def _h_cipmux(sim, rest, line):
    return ["OK"] if _sim7000(sim) and rest in ("=0", "?") else ["ERROR"]


def _h_cstt(sim, rest, line):
    s = _socks(sim)
    if not _sim7000(sim) or s.cip != "IP INITIAL":
        return ["ERROR"]
    s.cip = "IP START"
    return ["OK"]


def _h_ciicr(sim, rest, line):
    s = _socks(sim)
    if not _sim7000(sim) or s.cip != "IP START" or not sim._registered():
        return ["ERROR"]
    s.cip = "IP GPRSACT"
    return ["OK"]


def _h_cifsr_e0(sim, rest, line):
    # "AT+CIFSR;E0": the IP address (no OK of its own), then E0's OK
    s = _socks(sim)
    if not _sim7000(sim) or s.cip not in ("IP GPRSACT", "IP STATUS", "IP CLOSE", "CONNECT OK"):
        return ["ERROR"]
    if s.cip == "IP GPRSACT":
        s.cip = "IP STATUS"
    sim.echo = False
    return [sim.cfg.get("ip") or "10.0.0.2", "OK"]


def _h_cipstatus(sim, rest, line):
    if not _sim7000(sim):
        return ["ERROR"]
    return ["OK", "STATE: %s" % _socks(sim).cip]


def _h_cipstart(sim, rest, line):
    s = _socks(sim)
    if not _sim7000(sim) or s.cip not in ("IP STATUS", "IP CLOSE"):
        return ["ERROR"]
    a = _args(line[len("AT+CIPSTART"):])
    if a[0].upper() != "TCP":
        return ["ERROR"]

    def push(_cid, data):
        sim._mdm.write(data)

    def conn(sock):
        return _Conn(sock, "+CIPRXGET: 1", "CLOSED", "SEND OK", None, None if s.cip_manual else push)
    res = _open(sim, s, 0, a[1], int(a[2]), None, conn, True)
    s.cip = "CONNECT OK" if res == 0 else "IP CLOSE"
    _later_open(sim, s, 0, "CONNECT OK" if res == 0 else "CONNECT FAIL")
    return ["OK"]

HANDLERS = {
    "AT+CFSINIT": _h_cfsinit,
    "AT+CFSTERM": _h_cfsterm,
    "AT+CFSWFILE": _h_cfswfile,
    "AT+CCERTDOWN": _h_ccertdown,
    "AT+CCERTDELE": _h_ccertdele,
    "AT+CFSDFILE": _h_cfsdfile,
    "AT+CCERTLIST": _h_ccertlist,
    "AT+QFUPL": _h_qfupl,
    "AT+QFDEL": _h_qfdel,
    "AT+NETOPEN": _h_netopen,
    "AT+NETCLOSE": _h_netclose,
    "AT+CIPOPEN": _h_cipopen,
    "AT+CIPSEND": _h_cipsend,
    "AT+CIPRXGET": _h_ciprxget,
    "AT+CIPCLOSE": _h_cipclose,
    "AT+CCHSET": _h_cchset,
    "AT+CCHSTART": _h_cchstart,
    "AT+CCHSTOP": _h_cchstop,
    "AT+CCHSSLCFG": _h_cchsslcfg,
    "AT+CCHOPEN": _h_cchopen,
    "AT+CCHSEND": _h_cchsend,
    "AT+CCHRECV": _h_cchrecv,
    "AT+CCHCLOSE": _h_cchclose,
    "AT+CIPSHUT": _h_cipshut,
    "AT+CIPMUX": _h_cipmux,
    "AT+CSTT": _h_cstt,
    "AT+CIICR": _h_ciicr,
    "AT+CIFSR;E0": _h_cifsr_e0,
    "AT+CIPSTATUS": _h_cipstatus,
    "AT+CIPSTART": _h_cipstart,
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
