# In the lab VM (x86-64; aarch64: x1 and x0 below) (gdb 16.3, Python 3.13), after load_plugin.gdb: several GUI programs in ONE gdb
# (gdb's start-up and the plugin's import are paid once). For each program of $LABT_PROGRAMS (JSON
# [{name, exe, env, out, core, before}]), between `BEGIN prog NAME` and `END prog NAME`: run BEFORE (a shell
# command, if given), then the program with its
# environment and its output in OUT, stop just after the ioctl $GDBT_REQUEST returned ($rsi = the request,
# $rax = the result; a restarted return gone past), print the process's /proc fd links, its executable's
# first mapping and the thread (section "proc", ground truth read here, not by our code), run the
# ';;'-separated $GDBT_CMDS between `BEGIN cN` / `END cN` markers, write a core to CORE (gcore), then
# deliver SIGQUIT (passed, not stopped on: the Go runtime prints every goroutine to OUT and exits 2;
# section "quit"); `LABT seconds S` is that program's time. gdb is started with the first program as its
# file: `catch syscall ioctl` takes the syscall's number from the file's architecture (without one, gdb's
# default i386 would give 54, setsockopt on x86-64).
set pagination off
set confirm off
handle SIGQUIT nostop noprint pass
catch syscall ioctl
python
import json, os, time
# the arm64 lab (tests/test_lab_gui_arm64.py): the request is x1, the result x0
_labt_a64 = "aarch64" in gdb.execute("show architecture", to_string=True)
gdb.execute("condition $bpnum %s == %s" % ("$x1" if _labt_a64 else "$rsi", os.environ.get("GDBT_REQUEST", "0xc0086202")))
_labt_bp = gdb.breakpoints()[-1]
_labt_cmds = [c for c in os.environ.get("GDBT_CMDS", "").split(";;") if c.strip()]
_labt_keys = []
for _labt_p in json.loads(os.environ["LABT_PROGRAMS"]):
    _labt_t = time.time()
    gdb.write("BEGIN prog %s\n" % _labt_p["name"])
    gdb.flush()
    try:
        for _k in _labt_keys:
            gdb.execute("unset environment " + _k)
        for _k, _v in sorted(_labt_p["env"].items()):
            gdb.execute("set environment %s=%s" % (_k, _v))
        _labt_keys = sorted(_labt_p["env"])
        _labt_bp.enabled = True
        if _labt_p.get("before"):
            gdb.execute("shell " + _labt_p["before"])
        gdb.execute("file " + _labt_p["exe"])
        gdb.execute("run > %s 2>&1" % _labt_p["out"])
        gdb.execute("continue")
        for _ in range(3):
            _r = gdb.selected_frame().read_register("x0") if _labt_a64 else gdb.parse_and_eval("$rax")
            if int(_r) not in (-512, -513, -514, -516):
                break
            gdb.execute("continue")
            gdb.execute("continue")
        _pid = gdb.selected_inferior().pid
        _links = {}
        for _n in os.listdir("/proc/%d/fd" % _pid):
            try:
                _links[_n] = os.readlink("/proc/%d/fd/%s" % (_pid, _n))
            except OSError:
                pass
        _exe = os.readlink("/proc/%d/exe" % _pid)
        _first = next((l for l in open("/proc/%d/maps" % _pid).read().splitlines() if l.endswith(" " + _exe)), "")
        gdb.write("BEGIN proc\n" + json.dumps({"pid": _pid, "tid": gdb.selected_thread().ptid[1], "fd": _links,
                                               "exe_map": _first}) + "\nEND proc\n")
        for _i, _c in enumerate(_labt_cmds):
            gdb.write("BEGIN c%d\n" % _i)
            gdb.flush()
            try:
                gdb.execute(_c)
            except gdb.error as _e:
                gdb.write("GDB-ERROR: %s\n" % _e)
            gdb.flush()
            gdb.write("END c%d\n" % _i)
        if _labt_p.get("core"):
            gdb.execute("gcore " + _labt_p["core"])
        _labt_bp.enabled = False
        gdb.write("BEGIN quit\n")
        gdb.flush()
        gdb.execute("signal SIGQUIT")
        gdb.write("END quit\n")
    except gdb.error as _e:
        gdb.write("GDB-ERROR: %s\n" % _e)
    finally:
        try:
            if gdb.selected_inferior().pid:
                gdb.execute("kill")
        except gdb.error:
            pass
        gdb.write("LABT seconds %.2f\nEND prog %s\n" % (time.time() - _labt_t, _labt_p["name"]))
        gdb.flush()
end
