"""Starting and stopping the `reko serve` a bench script measures: a free loopback port, a credentials file,
the wait until `/healthz` answers, and a clean stop (SIGTERM, then a kill if it does not end)."""
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_credentials(path: pathlib.Path, keys) -> pathlib.Path:
    """A credentials file with one `[[keys]]` entry per (access key id, secret, account id)."""
    path.write_text("".join(f'[[keys]]\naccess_key_id = "{k}"\nsecret_access_key = "{s}"\naccount_id = "{a}"\n\n'
                            for k, s, a in keys))
    return path


def start(reko_bin, models_dir, data_dir, credentials, extra_args=(), env=None, log=None, timeout=60.0):
    """Starts `reko serve` on a free port and waits until it answers: (process, port). `log` is a file for its
    standard error (discarded without one). Raises RuntimeError, with the end of the log, if the server exits
    or does not answer within `timeout` seconds."""
    port = free_port()
    stderr = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen([reko_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
                             "--models-dir", str(models_dir), "--credentials-file", str(credentials), *extra_args],
                            env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                tail = pathlib.Path(log).read_text(errors="replace")[-2000:] if log else ""
                raise RuntimeError(f"reko serve did not start on port {port}: {tail}")
            time.sleep(0.1)


def stop(proc, timeout=60):
    """Stops a server `start` started: SIGTERM (a graceful shutdown), then a kill after `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
