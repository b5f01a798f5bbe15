"""An emulated board's serial port over RFC 2217 (Telnet COM-port control, RFC 2217), so that
host tools can drive its DTR and RTS lines, which a pseudo-terminal does not carry.

Contract: docs/flashing.md ("Emulator scope"). The Telnet/RFC 2217 side is pyserial's
`serial.rfc2217.PortManager`; the copying loop and the reset handling follow esptool's
`esp_rfc2217_server` (redirector.py, esp_port_manager.py): line changes cannot cross a network
with the timing a reset needs (pyserial's client waits 50-100 ms after each), so the server
recognises the start of esptool's reset sequences and runs esptool's own sequence
(esptool.reset.ClassicReset / HardReset) against the board's lines here, and clients use the
URL with `?ign_set_control`, as esptool's docs say for esp_rfc2217_server. The "serial port"
behind it is the board's pty slave for data and baud rate (the board sees the rate the client
sets, as on a USB-UART bridge) and the board's auto-reset circuit (ErasedBoard.set_lines) for
DTR/RTS. One client at a time, on 127.0.0.1.
"""

from __future__ import annotations

import os
import select
import socket
import termios
import threading

from serial.rfc2217 import (
    COM_PORT_OPTION,
    IAC,
    M_NORMAL,
    SET_CONTROL,
    SET_CONTROL_DTR_OFF,
    SET_CONTROL_DTR_ON,
    SET_CONTROL_RTS_OFF,
    SET_CONTROL_RTS_ON,
    PortManager,
)

from .vboard import BAUDS


class _BoardPort:
    """The serial-port object PortManager drives: the pty slave plus the board's lines."""

    def __init__(self, fd: int, board):
        self.fd = fd
        self.board = board
        self.bytesize, self.parity, self.stopbits = 8, "N", 1
        self.xonxoff = self.rtscts = False
        self.break_condition = False
        self.cts = self.dsr = self.ri = self.cd = False
        self._dtr = self._rts = True

    @property
    def baudrate(self) -> int:
        return BAUDS.get(termios.tcgetattr(self.fd)[5], 115200)

    @baudrate.setter
    def baudrate(self, baud: int) -> None:
        speed = next((k for k, v in BAUDS.items() if v == baud), None)
        if speed is None:
            raise ValueError(f"unsupported baud rate {baud}")
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        self._dtr = bool(value)
        self.board.set_lines(dtr=self._dtr)

    @property
    def rts(self) -> bool:
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)
        self.board.set_lines(rts=self._rts)

    # pyserial's method names, which esptool's reset sequences call
    def setDTR(self, value: bool = True) -> None:  # noqa: N802
        self.dtr = value

    def setRTS(self, value: bool = True) -> None:  # noqa: N802
        self.rts = value

    def isOpen(self) -> bool:  # noqa: N802
        return True

    def reset_input_buffer(self) -> None:
        termios.tcflush(self.fd, termios.TCIFLUSH)

    def reset_output_buffer(self) -> None:
        termios.tcflush(self.fd, termios.TCOFLUSH)


class _ResetPortManager(PortManager):
    """esp_rfc2217_server's EspPortManager, on the emulated board. A bootloader reset starts
    with EN held low (RTS asserted, DTR not); the DTR-on that follows is where esptool's
    ClassicReset needs tight timing, so from there esptool's own ClassicReset runs here and
    the rest of the client's sequence is dropped. Every other line change passes through to the
    board's circuit as it comes (so opening the port, which asserts DTR then RTS, resets
    nothing, as on a USB-UART bridge, and a hard reset is an RTS pulse)."""

    def __init__(self, serial_port, connection):
        self.in_reset = False
        self.client_rts = False
        super().__init__(serial_port, connection)

    def _telnet_process_subnegotiation(self, suboption):
        if suboption[0:1] == COM_PORT_OPTION and suboption[1:2] == SET_CONTROL:
            from esptool.reset import ClassicReset

            what = suboption[2:3]
            if what in (SET_CONTROL_RTS_ON, SET_CONTROL_RTS_OFF):
                self.client_rts = what == SET_CONTROL_RTS_ON
                if not self.in_reset:
                    self.serial.rts = self.client_rts
                return
            if what == SET_CONTROL_DTR_OFF:
                self.in_reset = False
                self.serial.dtr = False
                return
            if what == SET_CONTROL_DTR_ON:
                if self.client_rts and not self.in_reset:
                    self.in_reset = True
                    threading.Thread(target=ClassicReset(self.serial), daemon=True).start()  # type: ignore[arg-type]
                elif not self.in_reset:
                    self.serial.dtr = True
                return
        super()._telnet_process_subnegotiation(suboption)  # type: ignore[misc]


class _Client:
    def __init__(self, conn: socket.socket, board):
        self.conn = conn
        self.lock = threading.Lock()
        self.fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
        self.saved = termios.tcgetattr(self.fd)  # put back when the client leaves (see run)
        attrs = termios.tcgetattr(self.fd)
        attrs[0] = attrs[1] = attrs[3] = 0
        attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.port = _BoardPort(self.fd, board)
        self.pm = _ResetPortManager(self.port, self)
        self.alive = True

    def write(self, data: bytes) -> None:  # PortManager's connection interface
        with self.lock:
            self.conn.sendall(data)

    def run(self) -> None:
        reader = threading.Thread(target=self._to_client, daemon=True, name="rfc2217-out")
        reader.start()
        try:
            while self.alive:
                data = self.conn.recv(4096)
                if not data:
                    break
                out = self._filter(data)
                if out:
                    os.write(self.fd, out)
        except OSError:
            pass
        self.alive = False
        reader.join(timeout=1)
        # The pty is also the board's port for the other host tools (mpremote, collect): leave
        # it at the rate it had, not at the 921600 esptool switched to, so that a tool opening
        # it next and writing at once is not heard at a stale rate.
        try:
            termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
        except termios.error:
            pass
        os.close(self.fd)
        self.conn.close()

    def _filter(self, data: bytes) -> bytes:
        """PortManager.filter (a generator, a byte at a time) only where Telnet is: plain runs
        between IAC bytes are copied as they are, which at 921600 baud matters."""
        out = bytearray()
        while data:
            if self.pm.mode == M_NORMAL and self.pm.suboption is None:
                i = data.find(IAC)
                if i < 0:
                    out += data
                    break
                out += data[:i]
                data = data[i:]
            out += b"".join(self.pm.filter(data[:1]))
            data = data[1:]
        return bytes(out)

    def _to_client(self) -> None:
        while self.alive:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.fd, 4096)
                self.write(b"".join(self.pm.escape(data)))
            except OSError:
                break
        self.alive = False


class Rfc2217Server:
    def __init__(self, board, host: str = "127.0.0.1"):
        self.board = board
        self.sock = socket.create_server((host, 0))
        self.url = f"rfc2217://{host}:{self.sock.getsockname()[1]}?ign_set_control"
        self.closed = False
        threading.Thread(target=self._serve, daemon=True, name=f"rfc2217-{board.device_id}").start()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                client = _Client(conn, self.board)
            except OSError:
                conn.close()
                continue
            client.run()  # one client at a time, as one USB-UART bridge

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
