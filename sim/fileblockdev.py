# Block devices for littlefs (vfs.VfsLfs2) on the unix port, so tests and the virtual board run
# the same file system code as the ESP32 flash partition. Never deployed.
#
# Interface: MicroPython "extended" block protocol (docs: library/vfs.html, "Block devices"):
# readblocks(n, buf, offset), writeblocks(n, buf, offset) and ioctl(op, arg) with op 4 = block
# count, 5 = block size, 6 = erase block; littlefs calls writeblocks with an offset (prog) and
# erases with ioctl 6, and relies on nothing being cached here.
import errno

BLOCK_SIZE = 4096  # ESP32 SPI flash sector size, as the esp32 port's flash partition

_IOCTL_INIT = 1
_IOCTL_DEINIT = 2
_IOCTL_SYNC = 3
_IOCTL_BLK_COUNT = 4
_IOCTL_BLK_SIZE = 5
_IOCTL_BLK_ERASE = 6


class FileBlockDev:
    """A flash image in a host file. Writes go straight to the file (the unix port's files are
    unbuffered), so a process killed with SIGKILL leaves exactly the blocks written so far: the
    same state power loss leaves on flash (apart from a torn page program, see CutBlockDev)."""

    def __init__(self, path, block_count=256, block_size=BLOCK_SIZE):
        self.bs = block_size
        self.n = block_count
        try:
            self.f = open(path, "r+b")
        except OSError:
            self.f = open(path, "w+b")
        self.f.seek(0, 2)
        size = self.f.tell()
        if size < block_count * block_size:  # new image: erased flash reads 0xFF
            ff = b"\xff" * block_size
            for _ in range(size // block_size, block_count):
                self.f.write(ff)
        self._ff = b"\xff" * block_size

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        n = self.f.readinto(buf)
        if n != len(buf):
            raise OSError(errno.EIO)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # simple interface (FAT): erase then write whole blocks
            offset = 0
        self.f.seek(block * self.bs + offset)
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLK_COUNT:
            return self.n
        if op == _IOCTL_BLK_SIZE:
            return self.bs
        if op == _IOCTL_BLK_ERASE:
            self.f.seek(arg * self.bs)
            self.f.write(self._ff)
            return 0
        if op == _IOCTL_INIT or op == _IOCTL_DEINIT or op == _IOCTL_SYNC:
            return 0
        return None

    def close(self):
        self.f.close()


class PowerCut(OSError):
    pass


class CutBlockDev:
    """Flash in RAM that loses power after `budget` more program/erase operations: the failing
    operation is torn (only its first half lands if `torn`), later ones are lost, and the
    operation raises PowerCut so the code under test stops there. After a cut call .revive()
    for a new device on the same flash contents and mount that: the old device stays dead, so
    file objects of the old mount (closed later by the garbage collector) cannot write."""

    def __init__(self, block_count=64, block_size=BLOCK_SIZE, data=None):
        self.bs = block_size
        self.n = block_count
        self.data = bytearray(b"\xff" * (block_count * block_size)) if data is None else data
        self.budget = -1  # < 0: no power cut armed
        self.torn = True
        self.ops = 0
        self.dead = False
        self._ff = b"\xff" * block_size

    def arm(self, budget, torn=True):
        self.budget = budget
        self.torn = torn

    def revive(self):
        self.dead = True
        return CutBlockDev(self.n, self.bs, self.data)

    def _spend(self, start, data):
        if self.dead:
            return
        self.ops += 1
        if self.budget < 0:
            self.data[start : start + len(data)] = data
            return
        if self.budget == 0:
            self.dead = True
            raise PowerCut(errno.EIO)
        self.budget -= 1
        if self.budget == 0:
            if self.torn:
                h = len(data) // 2
                self.data[start : start + h] = data[:h]
            self.dead = True
            raise PowerCut(errno.EIO)
        self.data[start : start + len(data)] = data

    def readblocks(self, block, buf, offset=0):
        if self.dead:
            return
        s = block * self.bs + offset
        self._mv = self._mv if hasattr(self, "_mv") else memoryview(self.data)
        buf[:] = self._mv[s : s + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            offset = 0
        self._spend(block * self.bs + offset, buf)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLK_COUNT:
            return self.n
        if op == _IOCTL_BLK_SIZE:
            return self.bs
        if op == _IOCTL_BLK_ERASE:
            self._spend(arg * self.bs, self._ff)
            return 0
        if op == _IOCTL_INIT or op == _IOCTL_DEINIT or op == _IOCTL_SYNC:
            return 0  # comparisons, not "in (...)": this may run in a finalizer, heap locked
        return None


def mount(bdev, mountpoint="/flash", mkfs=False):
    """Mount littlefs v2 from bdev at mountpoint, formatting it when asked or when it holds no
    file system. Returns the VfsLfs2 object."""
    import vfs

    if not mkfs:
        try:
            fs = vfs.VfsLfs2(bdev)
        except OSError:
            mkfs = True
    if mkfs:
        vfs.VfsLfs2.mkfs(bdev)
        fs = vfs.VfsLfs2(bdev)
    try:
        vfs.umount(mountpoint)
    except OSError:
        pass
    vfs.mount(fs, mountpoint)
    return fs


def mount_image(path, mountpoint="/flash", block_count=256):
    """Mount (formatting if new) the littlefs image file at path; returns the FileBlockDev."""
    bd = FileBlockDev(path, block_count)
    mount(bd, mountpoint)
    return bd
