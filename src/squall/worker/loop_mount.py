"""Loop-mounting a filesystem image from this process, without `mount -o loop` or `umount`: a free
loop device from /dev/loop-control, the image attached with autoclear (the device goes when the
filesystem is unmounted), then mount(2). A sandbox's disk is made and mounted this way on its
start path; each subprocess there costs milliseconds of CPU, which 100 sandboxes at once feel.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import struct

LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LO_FLAGS_AUTOCLEAR = 4
LOOP_INFO64_SIZE = 232  # struct loop_info64
LO_FLAGS_OFFSET, LO_FILE_NAME_OFFSET, LO_NAME_SIZE = 52, 56, 64
LOOP_MAJOR = 7
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2
ATTEMPTS = 50  # another process may take the free device before we do

_libc = ctypes.CDLL(None, use_errno=True)


def mount_image(image: str, target: str, fstype: str = "ext4", flags: int = MS_NOSUID | MS_NODEV) -> str:
    """Mount the filesystem in `image` on `target` through a new loop device; returns the device."""
    img = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(ATTEMPTS):
            device, loop = _free_device()
            try:
                try:
                    fcntl.ioctl(loop, LOOP_SET_FD, img)
                except OSError as exc:
                    if exc.errno == errno.EBUSY:
                        continue
                    raise
                try:
                    fcntl.ioctl(loop, LOOP_SET_STATUS64, _loop_info(image))
                    if _libc.mount(device.encode(), target.encode(), fstype.encode(), flags, None) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"mounting {image} ({device}) on {target}: {os.strerror(err)}")
                except BaseException:
                    fcntl.ioctl(loop, LOOP_CLR_FD, 0)
                    raise
                return device
            finally:
                os.close(loop)
        raise OSError(errno.EBUSY, f"no free loop device for {image} after {ATTEMPTS} attempts")
    finally:
        os.close(img)


def unmount(target: str) -> None:
    """Unmount `target` (lazily if it is busy); its loop device then goes by itself."""
    if _libc.umount2(target.encode(), 0) == 0:
        return
    err = ctypes.get_errno()
    if err == errno.EBUSY and _libc.umount2(target.encode(), MNT_DETACH) == 0:
        return
    err = ctypes.get_errno()
    raise OSError(err, f"unmounting {target}: {os.strerror(err)}")


def _free_device() -> tuple[str, int]:
    ctl = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        n = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
    finally:
        os.close(ctl)
    device = f"/dev/loop{n}"
    try:
        return device, os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:  # no udev or devtmpfs made its node
        os.mknod(device, stat.S_IFBLK | 0o660, os.makedev(LOOP_MAJOR, n))
        return device, os.open(device, os.O_RDWR | os.O_CLOEXEC)


def _loop_info(image: str) -> bytes:
    info = bytearray(LOOP_INFO64_SIZE)
    struct.pack_into("I", info, LO_FLAGS_OFFSET, LO_FLAGS_AUTOCLEAR)
    name = os.fsencode(image)[-(LO_NAME_SIZE - 1):]
    info[LO_FILE_NAME_OFFSET : LO_FILE_NAME_OFFSET + len(name)] = name
    return bytes(info)
