"""What a virtual board must pass uncooked for `mpremote mount`: the board side of its fs hook.

On an ESP32, text written to `sys.stdout` is "cooked" (a lone "\\n" goes out as "\\r\\n",
shared/runtime/sys_stdio_mphal.c via mp_hal_stdout_tx_strn_cooked), while `sys.stdout.buffer`
writes bytes as they are (mp_hal_stdout_tx_strn). The unix port writes both to the same fd, so
vboard cooks everything it relays, and binary data that holds a 0x0a byte came out with an extra
0x0d. `mpremote mount` (mpremote/transport_serial.py, fs_hook_code) sends its requests through
`sys.stdout.buffer`: 0x18, a command byte, then the arguments as s8, s32 little-endian and
s32-length-prefixed strings. A length of 10 ("/array.mpy", looked up by `import array`), a
command 10 (CMD_REMOVE) or a 0x0a in data written to a mounted file was corrupted, and mpremote
waited forever for bytes that never came.

`MountFrames.split()` finds those requests in the board's output so that vboard relays them
raw and cooks only the text around them. Written by hand: the layouts below are mpremote's
(RemoteCommand / RemoteFS / RemoteFile in transport_serial.py, fs_hook_cmds), there is no
library that parses them. Other binary writes to sys.stdout.buffer are still cooked (the
firmware's own frames end in "\\r\\n" already, docs/protocol.md).
"""

from __future__ import annotations

ESC = 0x18  # mpremote RemoteCommand.begin(): buf4[0] = 0x18, buf4[1] = command

# fs_hook_cmds -> what the board writes after the command byte, in order:
# "b" wr_s8, "i" wr_s32, "s" wr_str / wr_bytes (s32 length, then that many bytes).
LAYOUTS = {
    1: "s",  # CMD_STAT: path
    2: "s",  # CMD_ILISTDIR_START: path
    3: "",  # CMD_ILISTDIR_NEXT
    4: "ss",  # CMD_OPEN: path, mode
    5: "b",  # CMD_CLOSE: fd
    6: "bi",  # CMD_READ: fd, n
    7: "b",  # CMD_READLINE: fd
    8: "bs",  # CMD_WRITE: fd, data
    9: "bib",  # CMD_SEEK: fd, offset, whence
    10: "s",  # CMD_REMOVE: path
    11: "ss",  # CMD_RENAME: old, new
    12: "s",  # CMD_MKDIR: path
    13: "s",  # CMD_RMDIR: path
}


class MountFrames:
    """Splits a byte stream into (bytes, raw) pieces; raw pieces are fs-hook requests.

    Keeps its state between calls: a request may arrive split over several reads."""

    def __init__(self) -> None:
        self.fields = ""  # fields still to come of the current request ("" = text)
        self.need = 0  # raw bytes still to pass for the current field
        self.lenbuf = bytearray()  # the s32 length of an "s" field, as it arrives
        self.esc = False  # a 0x18 ended the last read: the command byte is in the next one
        self.active = False  # inside a request

    def _next_field(self) -> None:
        while self.fields:
            f, self.fields = self.fields[0], self.fields[1:]
            if f == "s":
                self.need = 4
                self.lenbuf = bytearray(b"s")  # marker: the 4 bytes to come are a length
                return
            self.need = 1 if f == "b" else 4
            self.lenbuf = bytearray()
            return
        self.active = False
        self.need = 0

    def _start(self, cmd: int) -> bool:
        if cmd not in LAYOUTS:
            return False
        self.fields = LAYOUTS[cmd]
        self.active = True
        self._next_field()
        return True

    def split(self, data: bytes) -> list[tuple[bytes, bool]]:
        out: list[tuple[bytes, bool]] = []
        i, n = 0, len(data)
        if self.esc and n:
            self.esc = False
            if self._start(data[0]):
                out.append((bytes((ESC, data[0])), True))
                i = 1
            else:
                out.append((bytes((ESC,)), False))
        while i < n:
            if not self.active:
                j = data.find(ESC, i)
                if j < 0:
                    out.append((data[i:], False))
                    break
                if j > i:
                    out.append((data[i:j], False))
                if j + 1 >= n:
                    self.esc = True
                    break
                if self._start(data[j + 1]):
                    out.append((data[j:j + 2], True))
                else:
                    out.append((data[j:j + 2], False))
                i = j + 2
                continue
            take = min(self.need, n - i)
            piece = data[i:i + take]
            out.append((piece, True))
            i += take
            self.need -= take
            if self.lenbuf[:1] == b"s":
                self.lenbuf += piece
                if self.need == 0:
                    length = int.from_bytes(self.lenbuf[1:5], "little", signed=True)
                    self.lenbuf = bytearray()
                    if length > 0:
                        self.need = length
                        continue
            if self.need == 0:
                self._next_field()
        return [(b, raw) for b, raw in out if b]
