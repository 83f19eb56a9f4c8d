"""Input discovery never aborts and never drops an input silently: every odd path becomes a reject."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from flows.sources.files import discover_files, read_files

def _reasons(rejects) -> dict[str, str]:
    return {r.source: r.reason for r in rejects}


def test_loops_fifos_sockets_and_dangling_links_become_rejects(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("Ministers met in Vienna.")
    (folder / "notes.md").write_text("not an article type: skipped inside a folder")
    (folder / "loop_a.txt").symlink_to(folder / "loop_b.txt")
    (folder / "loop_b.txt").symlink_to(folder / "loop_a.txt")
    (folder / "back").symlink_to(folder)  # a folder link that points up the tree
    (folder / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    os.mkfifo(folder / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.html"))
    try:
        files, rejects = discover_files([folder, folder / "pipe.txt", tmp_path / "missing"])
    finally:
        sock.close()
    assert [f.source for f in files] == ["good.txt"]
    reasons = _reasons(rejects)
    assert reasons["loop_a.txt"] == reasons["loop_b.txt"] == "symlink_loop"
    assert reasons["back"] == "symlink_loop"
    assert reasons["dangling.txt"] == "unreadable"
    assert reasons["pipe.txt"] == "not_regular_file"
    assert reasons["sock.html"] == "not_regular_file"
    assert reasons[str(folder / "pipe.txt")] == "not_regular_file"  # given by name: not "not_found"
    assert reasons[str(tmp_path / "missing")] == "not_found"
    assert "notes.md" not in reasons
    docs, read_rejects = read_files(files, max_bytes=10**6, seen_at=__import__("datetime").datetime.now())
    assert docs.height == 1 and not read_rejects


def _list_as_nobody(folder: str, queue) -> None:
    """In a child process: drop to the `nobody` user, then discover and read as it would."""
    import datetime
    import encodings.utf_8_sig  # noqa: F401  (the interpreter's own files are not readable by nobody:
    import pwd  # load what discovery and reading need while still root)

    warm = Path(folder).parent / "warm.txt"
    read_files(discover_files([warm])[0], max_bytes=10**6, seen_at=datetime.datetime.now())
    user = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    files, rejects = discover_files([Path(folder)])
    docs, more = read_files(files, max_bytes=10**6, seen_at=datetime.datetime.now())
    queue.put({"docs": docs["source"].to_list(), "rejects": {r.source: r.reason for r in rejects + more}})


@pytest.mark.skipif(os.geteuid() != 0, reason="builds the case as root, then reads it as an unprivileged user")
def test_unreadable_files_and_folders_are_rejected_as_permission_denied():
    """Root reads everything, so the discovery runs in a child process that became `nobody`."""
    import multiprocessing as mp

    base = Path(tempfile.mkdtemp(prefix="fpwatch-perm-"))
    try:
        base.chmod(0o755)
        folder = base / "in"
        folder.mkdir()
        (base / "warm.txt").write_text("Caf\u00e9 talks in Gen\u00e8ve, then more talks.")
        (folder / "ok.txt").write_text("Envoys met in Oslo.")
        (folder / "secret.txt").write_text("no access")
        (folder / "secret.txt").chmod(0o000)
        (folder / "closed").mkdir()
        (folder / "closed" / "inside.txt").write_text("never listed")
        (folder / "closed").chmod(0o000)
        ctx = mp.get_context("spawn")  # not fork: a forked child of a threaded test process can deadlock
        queue = ctx.Queue()
        child = ctx.Process(target=_list_as_nobody, args=(str(folder), queue))
        child.start()
        got = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        assert got["docs"] == ["ok.txt"]
        assert got["rejects"] == {"secret.txt": "permission_denied", "closed": "permission_denied"}
    finally:
        for path in base.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
