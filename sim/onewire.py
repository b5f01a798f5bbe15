# The ESP32 port's `onewire` module (micropython-lib onewire.py) for a virtual board: the
# OneWire bus on a pin is whatever simworld puts there. Simulation only.
import simworld


class OneWireError(Exception):
    pass


class _Empty:
    # No device on the bus: no presence pulse.
    def reset(self, required=False):
        if required:
            raise OneWireError
        return False

    def readbit(self):
        return 1

    def readbyte(self):
        return 0xFF

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = 0xFF

    def write(self, buf):
        pass

    def writebyte(self, b):
        pass

    def writebit(self, b):
        pass

    def select_rom(self, rom):
        pass

    def scan(self):
        return []

    def crc8(self, data):
        return 0


def OneWire(pin):  # noqa: N802 (onewire API)
    return simworld.device("ow", pin.id if hasattr(pin, "id") else pin) or _Empty()
