"""Writing a file so that it is either all there or not changed at all: ``write_atomically``.

``io.save`` promises that a save interrupted by an error, a full disk, Ctrl-C or a crash
leaves the previous file intact. Keeping that promise (a private temporary file beside the
target, fsync, rename, fsync of the folder, the permission bits of the file replaced, the
clean-up of temporary files left by killed saves) has nothing to do with what the bytes
are, so it lives here, apart from the weight file formats.
"""
import errno
import os
import re
import secrets
import stat
import time
from contextlib import suppress
from pathlib import Path

_PROC_STATUS = "/proc/self/status"


def write_atomically(target, write, stale_after):
    """Call ``write(file)`` on a temporary file beside ``target``, then rename it over ``target``.

    Temporary files of earlier saves to ``target`` are removed first: those whose writer is gone,
    and those older than ``stale_after`` seconds.
    """
    if target.is_symlink():  # write where the link points, as open() would, and keep the link
        target = Path(os.path.realpath(target))
    mode = _mode_for(target)
    _remove_stale_temporaries(target, stale_after)
    handle, temporary = _create_temporary(target)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them visible
        os.chmod(temporary, mode)  # created private (0600) while being written
        os.replace(temporary, target)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary file behind
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)  # the rename itself survives a power cut


def _mode_for(target):
    """The permission bits for ``target``: those of the file it replaces, else ``0o666 & ~umask``."""
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        return 0o666 & ~_umask(target.parent)
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, f"cannot save over {str(target)!r}: it is not writable "
                                            f"(mode {oct(stat.S_IMODE(existing.st_mode))}); change its mode "
                                            "or save under another name", str(target))
    return stat.S_IMODE(existing.st_mode)


def _umask(folder):
    """The process umask, read without changing it.

    ``os.umask`` can only read the mask by setting another one, which for a moment
    changes the permissions of files other threads create. Linux reports the mask in
    /proc; elsewhere a file created with mode 0o666 shows which bits it removes.
    """
    with suppress(OSError, ValueError):
        with open(_PROC_STATUS) as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    handle, probe = _create_temporary(folder / "umask", mode=0o666)
    try:
        return 0o666 & ~stat.S_IMODE(os.fstat(handle).st_mode)
    finally:
        os.close(handle)
        os.unlink(probe)


def _create_temporary(target, mode=0o600):
    """``(handle, path)`` of a new file ``.{target.name}.{pid}.{random}.tmp`` beside ``target``.

    The pid in the name lets a later save tell that the writer is gone (killed mid-save).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:  # 1 in 4 billion: draw another name
            continue


def _remove_stale_temporaries(target, stale_after):
    """Remove temporary files of earlier saves to ``target`` whose writer is gone or that are older
    than ``stale_after`` seconds (a save killed by SIGKILL or a power cut cannot clean up)."""
    prefix = f".{target.name}."
    stale = []
    with suppress(OSError), os.scandir(target.parent) as entries:  # a folder we may write but not list
        stale = [entry.path for entry in entries
                 if entry.name.startswith(prefix) and entry.name.endswith(".tmp")
                 and _is_stale(entry, entry.name[len(prefix):-len(".tmp")], stale_after)]
    for path in stale:
        with suppress(FileNotFoundError, PermissionError):
            os.unlink(path)


def _is_stale(entry, middle, stale_after):
    with suppress(OSError):
        if time.time() - entry.stat(follow_symlinks=False).st_mtime > stale_after:
            return True
    writer = re.fullmatch(r"(\d+)\.[0-9a-f]+", middle)
    if writer is None or os.name == "nt":  # on Windows os.kill would terminate the process
        return False
    pid = int(writer.group(1))
    return pid != os.getpid() and not _process_exists(pid)


def _process_exists(pid):
    try:
        os.kill(pid, 0)  # signal 0 checks the process without sending anything
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists, owned by another user
        return True
    return True


def _fsync_folder(folder):
    if os.name == "nt":  # Windows cannot open a folder; NTFS journals the rename
        return
    with suppress(OSError):  # some file systems refuse fsync on a folder; the file is in place
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
