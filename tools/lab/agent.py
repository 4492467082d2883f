"""The lab's command agent, run inside the guest by busybox init (respawned if it dies).

One TCP connection = one request: a JSON line in, a JSON line out. The host reaches it through qemu's
user-mode network (hostfwd on 127.0.0.1 only). Requests ({"op": ...}):
  ping                                   -> {"ok", "uname"}
  run    argv|sh, env, cwd, timeout, stdin(b64)  -> {"rc", "stdout", "stderr" (b64), "timed_out"}
  spawn  argv, env, cwd, log             -> {"pid"}      (own session; output to the log file)
  wait   pid, path, pattern, timeout     -> {"found", "running", "rc", "text"}   (pattern in the file)
  kill   pid, sig                        -> {"ok"}       (the process group and the pid)
  status pid                             -> {"running", "rc"}
  put    path, data(b64), mode           -> {"ok"}
  get    path                            -> {"data" (b64)}
Every reply may instead be {"error": "one line"}. Everything is bounded by the request's timeout.
"""
import base64
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time

MAX_OUT = 64 << 20
_spawned = {}
_lock = threading.Lock()


def _env(req):
    env = dict(os.environ)
    env.update(req.get("env") or {})
    return env


def _argv(req):
    if req.get("sh") is not None:
        return ["/bin/sh", "-c", req["sh"]]
    return list(req["argv"])


def _killgroup(pid, sig=signal.SIGKILL):
    for f in (lambda: os.killpg(pid, sig), lambda: os.kill(pid, sig)):
        try:
            f()
        except OSError:
            pass


def op_run(req):
    timeout = float(req.get("timeout") or 60)
    stdin = base64.b64decode(req["stdin"]) if req.get("stdin") else None
    try:
        p = subprocess.Popen(_argv(req), env=_env(req), cwd=req.get("cwd") or "/",
                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        return {"rc": 127, "stdout": "", "stderr": base64.b64encode(("lab agent: %s\n" % e).encode()).decode(),
                "timed_out": False}
    timed_out = False
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _killgroup(p.pid)
        out, err = p.communicate()
    return {"rc": p.returncode, "stdout": base64.b64encode(out[:MAX_OUT]).decode(),
            "stderr": base64.b64encode(err[:MAX_OUT]).decode(), "timed_out": timed_out}


def op_spawn(req):
    log = open(req.get("log") or "/dev/null", "wb")
    try:
        p = subprocess.Popen(_argv(req), env=_env(req), cwd=req.get("cwd") or "/", stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    with _lock:
        _spawned[p.pid] = p
    return {"pid": p.pid}


def _poll(pid):
    with _lock:
        p = _spawned.get(pid)
    if p is None:
        try:
            os.kill(pid, 0)
            return True, None
        except OSError:
            return False, None
    rc = p.poll()
    return rc is None, rc


def op_wait(req):
    deadline = time.time() + float(req.get("timeout") or 20)
    pid, path, pattern = req.get("pid"), req.get("path"), req.get("pattern", "")
    while True:
        text = ""
        if path:
            try:
                with open(path, "rb") as f:
                    text = f.read(1 << 20).decode("utf-8", "replace")
            except OSError:
                pass
        running, rc = _poll(pid) if pid else (True, None)
        found = bool(pattern) and pattern in text
        if found or not running or time.time() > deadline:
            return {"found": found, "running": running, "rc": rc, "text": text[-8000:]}
        time.sleep(0.05)


def op_kill(req):
    _killgroup(int(req["pid"]), int(req.get("sig") or signal.SIGKILL))
    return {"ok": True}


def op_status(req):
    running, rc = _poll(int(req["pid"]))
    return {"running": running, "rc": rc}


def op_put(req):
    path = req["path"]
    tmp = path + ".lab-tmp"
    with open(tmp, "wb") as f:
        f.write(base64.b64decode(req["data"]))
    os.chmod(tmp, int(req.get("mode") or 0o644))
    os.rename(tmp, path)
    return {"ok": True}


def op_get(req):
    with open(req["path"], "rb") as f:
        return {"data": base64.b64encode(f.read()).decode()}


def op_ping(req):
    return {"ok": True, "uname": os.uname().release}


OPS = {"ping": op_ping, "run": op_run, "spawn": op_spawn, "wait": op_wait, "kill": op_kill,
       "status": op_status, "put": op_put, "get": op_get}


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            line = self.rfile.readline(1 << 30)
            req = json.loads(line.decode())
            fn = OPS.get(req.get("op"))
            reply = fn(req) if fn else {"error": "unknown op %r" % req.get("op")}
        except Exception as e:  # one line back to the host, never a dead agent
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        try:
            self.wfile.write(json.dumps(reply).encode() + b"\n")
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7000
    with Server(("0.0.0.0", port), Handler) as srv:
        with open("/proc/uptime") as f:
            up = f.read().split()[0]
        sys.stderr.write("lab agent: listening on %d at uptime %s\n" % (port, up))
        srv.serve_forever()


if __name__ == "__main__":
    main()
