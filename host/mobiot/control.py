"""The local control channel to a running `mobiot collect` (one seam, built once).

Tools that need a board's serial port while a collector holds it (`mobiot provision`,
`mobiot flash`, `mobiot monitor`) and `mobiot send`, which reaches a board over the port a
collector holds, talk to that collector through this module only. Its protocol and socket
location are documented in docs/collector.md ("Control channel"):

- every collector listens on a Unix socket `collect-<pid>.sock` in `runtime_dir()`
  ($MOBIOT_RUNTIME_DIR, else $XDG_RUNTIME_DIR/mobiot, else /tmp/mobiot-<uid>; mode 0700);
- a request is one JSON object on one line, the answer one JSON object on one line with
  `"ok": true/false` (and `"err"` when not ok);
- ops: `status`, `release` (the connection stays open while the port is lent; closing it, or
  the op `reclaim` on it, gives the port back), `send` (a command to a device, answered with its
  reply frame).

Also here, because every tool that opens a board's port needs them: `open_serial` (exclusive,
as mpremote opens) and `describe_open_error` (why a port did not open, in one line: busy and
by whom, permission and which group to join, missing).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MobiotError

RUNTIME_ENV = "MOBIOT_RUNTIME_DIR"
CONNECT_TIMEOUT_S = 5.0
RELEASE_TIMEOUT_S = 15.0  # the collector's reader lets go within one read timeout; margin for load
LINE_MAX = 64 * 1024


def runtime_dir(create: bool = False) -> Path:
    """Where collectors put their sockets (docs/collector.md "Control channel")."""
    env = os.environ.get(RUNTIME_ENV)
    if env:
        d = Path(env)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        d = Path(os.environ["XDG_RUNTIME_DIR"]) / "mobiot"
    else:
        d = Path(f"/tmp/mobiot-{os.getuid()}")
    if create:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def socket_path(pid: int | None = None) -> Path:
    return runtime_dir() / f"collect-{os.getpid() if pid is None else pid}.sock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collector_sockets() -> list[Path]:
    """Sockets of running collectors; those left by a collector that died are removed."""
    d = runtime_dir()
    out = []
    for p in sorted(d.glob("collect-*.sock")) if d.is_dir() else []:
        try:
            pid = int(p.stem.split("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            with contextlib.suppress(OSError):
                p.unlink()
            continue
        out.append(p)
    return out


class _Conn:
    """One client connection: JSON line out, JSON line back."""

    def __init__(self, path: Path, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect(str(path))
        self.rfile = self.sock.makefile("rb")

    def ask(self, obj: dict, timeout_s: float) -> dict:
        self.sock.settimeout(timeout_s)
        self.sock.sendall(json.dumps(obj).encode() + b"\n")
        line = self.rfile.readline(LINE_MAX)
        if not line:
            raise ConnectionError("collector closed the connection")
        return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.rfile.close()
            self.sock.close()


def request(path: Path, obj: dict, timeout_s: float = CONNECT_TIMEOUT_S) -> dict:
    """One request to the collector at `path`; its answer."""
    c = _Conn(path)
    try:
        return c.ask(obj, timeout_s)
    finally:
        c.close()


def collectors() -> list[dict]:
    """`status` of every running collector (pid, db, ports with their state and device)."""
    out = []
    for p in collector_sockets():
        try:
            st = request(p, {"op": "status"})
        except (OSError, ValueError):
            continue
        if st.get("ok"):
            st["socket"] = str(p)
            out.append(st)
    return out


def same_port(a: str, b: str) -> bool:
    """Two names of one port (a /dev/serial/by-id link and its /dev/ttyUSB0 are the same)."""
    if a == b:
        return True
    if "://" in a or "://" in b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def holders(port: str) -> list[dict]:
    """Collectors that have `port` among theirs (open, waiting for it, or lent out)."""
    return [c for c in collectors() if any(same_port(port, p["port"]) for p in c.get("ports", []))]


def _proc_holders(port: str) -> list[tuple[str, int]]:
    """(command name, pid) of processes of this user that have `port` open (Linux /proc)."""
    try:
        real = os.path.realpath(port)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    out = []
    for pid in pids:
        if pid == os.getpid():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") == real:
                    break
            except OSError:
                continue
        else:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            name = " ".join(os.path.basename(x.decode(errors="replace")) for x in cmdline[:3] if x)
        except OSError:
            name = "?"
        out.append((name, pid))
    return out


def busy_message(port: str) -> str:
    """"port busy: mobiot collect (pid N)", or the other program that holds it when known."""
    for c in holders(port):
        return f"port busy: mobiot collect (pid {c['pid']})"
    for name, pid in _proc_holders(port):
        if "mpremote" in name:
            name = "mpremote"
        elif "mobiot" in name:
            name = "mobiot"
        return f"port busy: {name} (pid {pid})"
    return "port busy: open in another program"


def permission_message(port: str) -> str:
    """Permission refused: which group owns the port, and how to join it."""
    try:
        import grp

        group = grp.getgrgid(os.stat(port).st_gid).gr_name
    except (OSError, KeyError, ImportError):
        group = ""
    if group and group != "root":
        return (
            f"permission denied: {port} belongs to group {group}; join it "
            f"(sudo usermod -aG {group} $USER) and log in again"
        )
    return (
        "permission denied: join the serial group, dialout on Debian/Ubuntu or uucp on Arch/Fedora "
        "(sudo usermod -aG dialout $USER), and log in again"
    )


def describe_open_error(port: str, exc: BaseException) -> str:
    """Why `port` did not open, as one line for a person."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "exclusively lock" in text:
        return busy_message(port)
    if code == errno.EACCES or "Permission denied" in text:
        return permission_message(port)
    if code == errno.ENOENT or "No such file" in text:
        return "no such device (not plugged in, or another name?)"
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.replace(f"could not open port {port}: ", "")


def open_serial(port: str, baud: int = 115200, **kw):
    """The board's port opened exclusively (mpremote opens it so too), or MobiotError saying why
    not in one line."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baud, exclusive=True, **kw)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise MobiotError(f"cannot open {port}: {describe_open_error(port, exc)}") from exc


# ---- client side: lease a port, send a command --------------------------------------------


@contextmanager
def lease_port(port: str, who: str) -> Iterator[None]:
    """Hold `port` for the duration of the block: a running collector that has it open lets go
    of just that port and takes it back when the block ends (the other ports keep streaming).
    `who` names the tool for the collector's log, for example "mobiot provision".

    Without a running collector holding the port this does nothing. A lease ends when the
    block ends or this process dies (the collector sees the connection close)."""
    conns: list[_Conn] = []
    try:
        for c in holders(port):
            try:
                conn = _Conn(Path(c["socket"]))
                conns.append(conn)
                ans = conn.ask({"op": "release", "port": port, "who": who}, RELEASE_TIMEOUT_S)
            except (OSError, ValueError) as exc:
                raise MobiotError(f"{port}: collector pid {c['pid']} did not let go of it: {exc}") from exc
            if not ans.get("ok"):
                raise MobiotError(f"{port}: collector pid {c['pid']} did not let go of it: {ans.get('err')}")
        yield
    finally:
        for conn in conns:
            with contextlib.suppress(OSError, ValueError):
                conn.ask({"op": "reclaim", "port": port}, CONNECT_TIMEOUT_S)
            conn.close()


def send_command(device: str, line: str, timeout_s: float = 10.0) -> dict:
    """Send one host -> board command line (docs/protocol.md, `!verb args*XX`) to `device`
    through the collector that holds its port, and return the board's reply frame payload.

    `line` may also be `verb args` without `!`/checksum: it is then encoded here. The reply is
    the `K` frame for the verb; for `status` (answered by a status record) the record, for
    `hello` the `H` frame. MobiotError when no collector has the device or it did not answer."""
    from .codec import encode_command, parse_command

    raw = line.strip()
    if raw.startswith("!"):
        try:
            verb, args = parse_command(raw.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise MobiotError(f"send {device}: {line!r} is not a command line: {exc}") from exc
    else:
        verb, _, args = raw.partition(" ")
    try:
        wire = encode_command(verb, args).decode("ascii")
    except ValueError as exc:
        raise MobiotError(f"send {device}: {exc}") from exc
    for c in collectors():
        if any(p.get("device") == device for p in c.get("ports", [])):
            try:
                ans = request(
                    Path(c["socket"]),
                    {"op": "send", "device": device, "line": wire, "timeout_s": timeout_s},
                    timeout_s + CONNECT_TIMEOUT_S,
                )
            except (OSError, ValueError) as exc:
                raise MobiotError(f"send {device}: collector pid {c['pid']}: {exc}") from exc
            if not ans.get("ok"):
                raise MobiotError(f"send {device}: {ans.get('err')}")
            return ans["reply"]
    raise MobiotError(f"send {device}: no running collector holds a port for that device")


# ---- server side: run by the collector ------------------------------------------------------


class ControlServer:
    """The collector's end: a Unix socket served by one thread per connection.

    `handle(request, conn_state) -> dict` answers one request; `on_close(conn_state)` is called
    when a connection ends (a lease held on it ends too). conn_state is a dict per connection."""

    def __init__(self, handle: Callable[[dict, dict], dict], on_close: Callable[[dict], None]) -> None:
        self.handle = handle
        self.on_close = on_close
        self.path = socket_path()
        runtime_dir(create=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,), name="control conn", daemon=True).start()

    def _conn(self, conn: socket.socket) -> None:
        state: dict = {}
        conn.settimeout(None)
        f = conn.makefile("rb")
        try:
            while not self.stopped.is_set():
                line = f.readline(LINE_MAX)
                if not line:
                    break
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                    ans = self.handle(req, state)
                except (ValueError, KeyError, TypeError) as exc:
                    ans = {"ok": False, "err": f"bad request: {exc}"}
                conn.sendall(json.dumps(ans).encode() + b"\n")
        except OSError:
            pass
        finally:
            try:
                self.on_close(state)
            finally:
                with contextlib.suppress(OSError):
                    f.close()
                    conn.close()

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
