# Flash in RAM that loses power on demand, for littlefs (vfs.VfsLfs2) on the unix port: the
# firmware tests' power-cut checks of the flash queue, and the tests' small file systems. Never
# deployed. The block protocol is sim/fileblockdev.py's (a module of its own, so the benches,
# which mount a FileBlockDev, do not load this code into the heap they measure).
import errno

from fileblockdev import BLOCK_SIZE, BlockDev


class PowerCut(OSError):
    pass


class CutBlockDev(BlockDev):
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

    def erase(self, block):
        self._spend(block * self.bs, self._ff)
