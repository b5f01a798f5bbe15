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
# erased flash, written in pieces: a whole-block pattern would hold 4 KB of the board's heap,
# which a real board's C flash driver does not (the benches measure that heap)
_FF = b"\xff" * 256


class BlockDev:
    """The block protocol's ioctl for a device of self.n blocks of self.bs bytes whose erase(block)
    sets a block to 0xFF (FileBlockDev here, cutblockdev.CutBlockDev)."""

    def ioctl(self, op, arg):
        if op == _IOCTL_BLK_COUNT:
            return self.n
        if op == _IOCTL_BLK_SIZE:
            return self.bs
        if op == _IOCTL_BLK_ERASE:
            self.erase(arg)
            return 0
        if op == _IOCTL_INIT or op == _IOCTL_DEINIT or op == _IOCTL_SYNC:
            return 0  # comparisons, not "in (...)": this may run in a finalizer, heap locked
        return None


class FileBlockDev(BlockDev):
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
            for b in range(size // block_size, block_count):
                self.erase(b)

    def erase(self, block):
        self.f.seek(block * self.bs)
        n = self.bs
        while n > 0:
            k = min(n, len(_FF))
            self.f.write(_FF if k == len(_FF) else _FF[:k])
            n -= k

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

    def close(self):
        self.f.close()


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
