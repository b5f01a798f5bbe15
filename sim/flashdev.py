# A board's flash as a file: the block device a virtual board mounts littlefs on, as the ESP32
# port mounts littlefs on its "vfs" flash partition (ports/esp32/modules/inisetup.py).
# Simulation only: never deployed to a real board.
from micropython import const

_IOCTL_BLOCK_COUNT = const(4)  # MicroPython block-device protocol (docs: vfs, "ioctl")
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


class FlashDev:
    """Block device over an image file. Each write goes straight to the file (no caching),
    so a kill -9 of the board process leaves exactly the blocks written so far: the same
    power-loss model as a NOR flash, which littlefs is designed to survive."""

    def __init__(self, f, block_size=4096, start=0, size=0):
        # start/size: a partition inside a whole-flash image (vboard --erased: flash.bin)
        self.f = f
        self.bs = block_size
        self.start = start
        f.seek(0, 2)
        self.n = (size or f.tell() - start) // block_size

    def readblocks(self, block, buf, off=0):
        self.f.seek(self.start + block * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, off=0):
        self.f.seek(self.start + block * self.bs + off)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.n
        if op == _IOCTL_BLOCK_SIZE:
            return self.bs
        if op == _IOCTL_BLOCK_ERASE:
            return 0
        return None
