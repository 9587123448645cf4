"""Writing outputs so that a failure never leaves a half-written file or directory."""

import contextlib
import os
import shutil
import tempfile


def atomic_write_bytes(path, data):
    """Writes ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; published artifacts get the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    return path


def atomic_write_text(path, text):
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output_dir(out_dir):
    """Raises ValueError when ``out_dir`` exists and is not a directory."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"output path {out_dir!r} is a file; expected a directory (existing or new)")
    return out_dir


@contextlib.contextmanager
def staged_output_dir(out_dir):
    """Yields a staging directory whose files move into ``out_dir`` only if the block succeeds.

    Existing files in ``out_dir`` that the block does not produce are left alone, so
    re-running over an output directory works and a failure leaves it as it was.
    """
    out_dir = check_output_dir(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".tfkd-staging-")
    try:
        yield staging
        os.makedirs(out_dir, exist_ok=True)
        for root, _, files in os.walk(staging):
            relative_root = os.path.relpath(root, staging)
            target_root = os.path.normpath(os.path.join(out_dir, relative_root))
            os.makedirs(target_root, exist_ok=True)
            for name in files:
                os.replace(os.path.join(root, name), os.path.join(target_root, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
