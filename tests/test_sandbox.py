"""The sandbox: results, limits, isolation, clean-up, hostile code, and the RPC session."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from palaestra.sandbox import SandboxResult, Session, ToolRequest, run_python, run_python_sync
from palaestra.sandbox import process as sandbox_process
from palaestra.sandbox.process import _PACKAGE_DIR

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="per-run uids and namespaces need root")


@functools.cache
def probe() -> SandboxResult:
    """One run, to learn which isolation mechanisms this machine allows."""
    return run_python_sync("pass")


def needs(*mechanisms: str) -> None:
    """Skip the test where the machine does not allow one of ``mechanisms``."""
    missing = [m for m in mechanisms if m not in probe().mechanisms]
    if missing:
        pytest.skip(f"not available here: {', '.join(missing)} ({'; '.join(probe().notes) or 'not root'})")


CHANNEL = (  # a script's own ends of the tool channel, taken from the RPC function
    "cells = [c.cell_contents for c in tool.__closure__]\n"
    "writer = next(c for c in cells if getattr(c, 'mode', '') == 'wb')\n"
    "reader = next(c for c in cells if getattr(c, 'mode', '') == 'rb')\n"
)


def processes_of(uid: int) -> list[int]:
    """Pids whose real uid is ``uid`` (zombies included)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status") as f:
                    uids = next(line for line in f if line.startswith("Uid:")).split()
            except (OSError, StopIteration):
                continue
            if int(uids[1]) == uid:
                out.append(int(entry.name))
    return out


async def test_a_clean_run_reports_output_exit_code_and_isolation() -> None:
    r = await run_python(
        "import os, sys\nprint('hi', sys.argv[0])\nprint('err', file=sys.stderr)\nsys.exit(3)"
    )
    assert r.stdout == "hi main.py\n" and r.stderr == "err\n" and r.exit_code == 3
    assert r.limit is None and not r.ok and 0 < r.duration < 5
    if ROOT:
        assert r.network_isolated and r.uid is not None and r.uid >= 1_000_000
        assert _PACKAGE_DIR in r.hidden
    assert (await run_python("print(1)")).ok


async def test_exceptions_and_syntax_errors_come_back_as_tracebacks_of_the_script() -> None:
    r = await run_python("def f():\n    return 1 / 0\nf()")
    assert r.exit_code == 1 and r.limit is None
    assert r.stderr.startswith("Traceback") and 'File "main.py", line 2, in f' in r.stderr
    assert r.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_boot" not in r.stderr  # the supervisor's own frames are not shown
    r = await run_python("def f(:\n  pass")
    assert r.exit_code == 1 and "SyntaxError" in r.stderr


async def test_stdin_files_collected_files_and_a_fresh_private_workdir() -> None:
    code = (
        "import os, sys\n"
        "print(sys.stdin.read().upper(), open('data/in.txt').read(), os.getcwd() == os.environ['HOME'])\n"
        "open('out.txt', 'w').write('made')\n"
        "os.symlink('/etc/passwd', 'link')\n"
        "print(os.getcwd())"
    )
    r = await run_python(code, stdin="hello", files={"data/in.txt": "DATA"}, collect_files=True)
    first, workdir = r.stdout.splitlines()
    assert first == "HELLO DATA True"
    assert r.files == {"data/in.txt": "DATA", "main.py": code, "out.txt": "made"}  # symlink not followed
    if ROOT:  # the run sees its directory at a fixed path (an empty mount point outside the run)
        assert workdir == os.path.join(tempfile.gettempdir(), "palaestra-sandbox")
        assert os.listdir(workdir) == []
    else:
        assert not os.path.exists(workdir)  # deleted afterwards
    with pytest.raises(ValueError, match="relative path"):
        await run_python("pass", files={"../escape.txt": "x"})


async def test_the_environment_is_scrubbed_and_hash_seed_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALAESTRA_TEST_SECRET", "s3cret")
    r = await run_python("import os\nprint(sorted(os.environ))\nprint({'b', 'a', 'c', 'dd', 'e'})")
    names, order = r.stdout.splitlines()
    assert "PALAESTRA_TEST_SECRET" not in names and "PATH" in names and "HOME" in names
    assert (await run_python("print({'b', 'a', 'c', 'dd', 'e'})")).stdout.strip() == order
    r = await run_python("import os\nprint(os.environ['EXTRA'])", env={"EXTRA": "given"})
    assert r.stdout == "given\n"


@needs_root
async def test_hostile_reads_of_private_files_the_parents_environment_and_palaestra_fail() -> None:
    secret_dir = tempfile.mkdtemp()
    secret = Path(secret_dir, "secret.txt")
    secret.write_text("s3cret")
    secret.chmod(0o600)
    try:
        code = (
            "import os\n"
            f"for path in ({str(secret)!r}, '/proc/{os.getpid()}/environ', '/proc/1/environ'):\n"
            "    try:\n"
            "        print(open(path).read()[:20])\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__)\n"
            "try:\n"
            f"    print(os.listdir({_PACKAGE_DIR!r}))\n"
            "except OSError as e:\n"
            "    print(type(e).__name__)\n"
            "print(open('/etc/hostname').read() != '')\n"
        )
        r = await run_python(code)
        lines = r.stdout.splitlines()
        # not there at all (a private root) or not readable for the run's uid
        unreadable = ("PermissionError", "FileNotFoundError")
        assert all(line in unreadable for line in lines[:3]) and lines[4:] == ["True"], r.stdout + r.stderr
        # Palaestra's package is absent or masked by an empty directory; where a parent of the checkout
        # is private (a `mktemp -d` clone), the sandbox's uid cannot even reach it.
        assert lines[3] in ("[]", *unreadable), lines[3]
    finally:
        secret.unlink()
        os.rmdir(secret_dir)


@needs_root
async def test_no_network_not_even_the_parents_localhost_unless_asked() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        f"for addr in (('127.0.0.1', {port}), ('1.1.1.1', 53)):\n"
        "    try:\n"
        "        socket.create_connection(addr, timeout=1).close()\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print('refused', e.errno)\n"
    )
    try:
        r = await run_python(code)
        assert r.network_isolated
        assert r.stdout.splitlines()[0].startswith("refused")
        assert "connected" not in r.stdout
        r = await run_python(code.replace("('1.1.1.1', 53)", ""), network=True)
        assert not r.network_isolated and r.stdout.splitlines()[0] == "connected"
    finally:
        server.close()


@needs_root
async def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing_behind() -> None:
    # it ends by itself when the script fails to fork; the generous clock only bounds a broken run
    r = await run_python("import os\nwhile True:\n    os.fork()", timeout=30, max_procs=8)
    assert r.limit == "processes" and "BlockingIOError" in r.stderr
    assert r.uid is not None and processes_of(r.uid) == []
    # one that swallows the errors runs until the clock stops it; everything still dies
    r = await run_python(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout=1
    )
    assert r.limit in ("timeout", "cpu") and r.uid is not None and processes_of(r.uid) == []


async def test_threads_count_against_the_process_limit() -> None:
    code = "import threading, time\nts = [threading.Thread(target=time.sleep, args=(0.5,)) for _ in range(40)]\nfor t in ts: t.start()"
    r = await run_python(code, max_procs=8)
    if ROOT:
        assert r.limit == "processes" and "can't start new thread" in r.stderr


async def test_memory_bombs_hit_the_memory_limit() -> None:
    r = await run_python("x = bytearray(1 << 30)", memory_mb=128)
    assert r.limit == "memory" and "MemoryError" in r.stderr
    r = await run_python("x = []\nwhile True:\n    x.append(' ' * 10**6)", memory_mb=128)
    assert r.limit == "memory" and r.max_rss_mb < 160


async def test_infinite_loops_end_at_the_wall_clock_or_the_cpu_limit() -> None:
    start = time.monotonic()
    spin, sleep, cpu = await asyncio.gather(
        run_python("print('before', flush=True)\nwhile True:\n    pass", timeout=0.7),
        run_python("import time\ntime.sleep(60)", timeout=0.5),
        run_python("while True:\n    pass", timeout=10, cpu_seconds=1),
    )
    assert spin.limit == "timeout" and spin.stdout == "before\n" and spin.exit_code == -9
    assert sleep.limit == "timeout" and sleep.cpu_time < 0.5  # sleeping uses no CPU: the wall clock stops it
    assert cpu.limit == "cpu" and cpu.duration < 8
    assert time.monotonic() - start < 9


async def test_file_size_and_output_floods_are_stopped() -> None:
    r = await run_python("open('big', 'wb').write(b'x' * (3 << 20))", max_file_mb=1)
    assert r.limit == "file_size" and "File too large" in r.stderr
    r = await run_python("while True:\n    print('spam' * 100)", max_output=10_000)
    assert r.limit == "output"
    assert len(r.stdout) < 10_200 and "[... output truncated" in r.stdout


@needs_root
async def test_orphans_that_leave_the_process_group_are_killed_and_reaped() -> None:
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        print(os.getpid(), flush=True)\n"
        "        time.sleep(100)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "time.sleep(0.2)\n"
    )
    r = await run_python(code, timeout=5)
    orphan = int(r.stdout.split()[0])
    assert r.exit_code == 0 and r.duration < 4
    assert not os.path.exists(f"/proc/{orphan}") or r.uid is None or orphan not in processes_of(r.uid)
    assert r.uid is not None and processes_of(r.uid) == []


@needs_root
async def test_leftovers_in_shared_temp_dirs_are_removed() -> None:
    name = f"/tmp/palaestra-sandbox-test-{os.getpid()}"
    r = await run_python(f"open({name!r}, 'w').write('x')\nimport os\nos.mkdir({name + 'd'!r})")
    assert r.ok and not os.path.exists(name) and not os.path.exists(name + "d")


async def test_concurrent_runs_are_independent() -> None:
    results = await asyncio.gather(*(run_python(f"import os\nprint({i}, os.getuid())") for i in range(6)))
    assert [r.stdout.split()[0] for r in results] == [str(i) for i in range(6)]
    if ROOT:
        assert len({r.uid for r in results}) == 6


async def test_without_dropping_privileges_the_run_keeps_the_callers_user() -> None:
    r = await run_python("import os\nprint(os.getuid())", drop_privileges=False)
    assert r.uid is None and r.stdout.strip() == str(os.getuid())


def test_the_sync_wrapper_works_with_and_without_a_running_loop() -> None:
    assert run_python_sync("print(6 * 7)").stdout == "42\n"

    async def inside() -> SandboxResult:
        return run_python_sync("print('nested')")

    assert asyncio.run(inside()).stdout == "nested\n"


async def test_a_session_calls_back_and_its_clock_stops_while_it_waits() -> None:
    code = (
        "print('start')\n"
        "print('got', tool('move', {'to': 'north'}))\n"
        "try:\n"
        "    tool('bad', {})\n"
        "except RuntimeError as e:\n"
        "    print('error', e)\n"
        "print(tool('slow', {'n': [1, 2]}))\n"
    )
    s = Session(code, rpc_name="tool", timeout=1.0)
    await s.start()
    seen = []
    while True:
        event = await s.next_event()
        if isinstance(event, SandboxResult):
            break
        seen.append(event)
        if event.name == "bad":
            await s.reply(error="no such tool")
        elif event.name == "slow":
            await asyncio.sleep(1.2)  # longer than the timeout: waiting does not count
            await s.reply("slow answer")
        else:
            await s.reply(f"moved {event.arguments['to']}")
    assert seen == [
        ToolRequest("move", {"to": "north"}),
        ToolRequest("bad", {}),
        ToolRequest("slow", {"n": [1, 2]}),
    ]
    assert event.ok and event.stdout == "start\ngot moved north\nerror no such tool\nslow answer\n"


async def test_a_session_is_stopped_when_no_answer_comes_or_when_killed() -> None:
    s = Session("tool('a', {})\nprint('never')", rpc_name="tool", reply_timeout=0.2)
    await s.start()
    assert isinstance(await s.next_event(), ToolRequest)
    await asyncio.sleep(0.6)
    assert not s.running
    result = await s.kill()
    assert result.limit == "timeout" and "never" not in result.stdout
    s = Session("tool('a', {})\nprint('never')", rpc_name="tool")
    await s.start()
    assert isinstance(await s.next_event(), ToolRequest)
    result = await s.kill()
    assert result.limit is None and result.stdout == "" and not s.running
    if ROOT and result.uid is not None:
        assert processes_of(result.uid) == []


@needs_root
async def test_cancelling_the_caller_ends_the_run_and_cleans_up() -> None:
    from palaestra.sandbox import uids

    before = set(uids._taken)
    task = asyncio.ensure_future(run_python("import time\ntime.sleep(30)", timeout=30))
    await asyncio.sleep(0.3)
    (uid,) = set(uids._taken) - before
    assert processes_of(uid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if uid not in uids._taken:
            break
        await asyncio.sleep(0.05)
    assert uid not in uids._taken and processes_of(uid) == []


async def test_a_script_flooding_the_request_channel_is_stopped() -> None:
    code = CHANNEL + (
        "for _ in range(1000):\n"
        '    writer.write(b\'{"name": "x", "arguments": {}}\\n\')\n'
        "writer.flush()\n"
        "import time\n"
        "time.sleep(5)\n"
    )
    s = Session(code, rpc_name="tool", timeout=5)
    await s.start()
    for _ in range(100):
        if not s.running:
            break
        await asyncio.sleep(0.05)
    result = await s.kill()
    assert result.limit == "output" and result.duration < 4.5


async def test_any_line_on_the_request_channel_gets_an_answer_at_once() -> None:
    """Deep, huge or malformed lines are answered with an error the script can catch;
    the channel keeps working after them."""
    code = CHANNEL + (
        "for line in (b'[' * 100_000, b'{\"name\": ' * 50_000 + b'1', b'x' * 3_000_000, b'not json',\n"
        "             b'[1, 2]', b'{\"name\": \"x\", \"arguments\": ' + b'[' * 200 + b']' * 200 + b'}'):\n"
        "    writer.write(line + b'\\n')\n"
        "    writer.flush()\n"
        "    print(reader.readline().decode().strip()[:60])\n"
        "print(tool('echo', {'text': 'still works'}))\n"
    )
    s = Session(code, rpc_name="tool", timeout=20)
    await s.start()
    while not isinstance(event := await s.next_event(), SandboxResult):
        assert event == ToolRequest("echo", {"text": "still works"})
        await s.reply(event.arguments["text"])
    assert event.ok, event.stderr
    *errors, last = event.stdout.splitlines()
    assert len(errors) == 6 and all(e.startswith('{"error": "invalid tool request: ') for e in errors)
    assert last == "still works"


async def test_no_host_process_is_visible_and_no_ancestors_command_line() -> None:
    needs("pid-namespace")
    secret = f"--api-key=sk-test-{os.getpid()}"
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", secret])
    code = (
        "import os\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "lines = [open(f'/proc/{p}/cmdline', 'rb').read() for p in pids]\n"
        f"print(len(pids), any(b'sk-test' in x for x in lines))\n"
        f"for pid in ({os.getpid()}, {host.pid}):\n"
        "    try:\n"
        "        os.kill(pid, 0)\n"
        "        print('reached')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
    )
    try:
        r = await run_python(code)
    finally:
        host.kill()
        host.wait()
    assert r.stdout.split() == ["1", "False", "ProcessLookupError", "ProcessLookupError"], r.stdout + r.stderr


async def test_the_project_its_git_history_and_the_callers_store_are_not_readable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    needs("private-root")
    project = Path(_PACKAGE_DIR).parents[1]
    store = tmp_path / "palaestra.db"
    store.write_text("stored secret")
    store.chmod(0o644)
    tmp_path.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    code = (
        "import os, subprocess\n"
        f"for path in ({str(store)!r}, {str(project / 'pyproject.toml')!r}, {str(project)!r}):\n"
        "    try:\n"
        "        print(open(path).read()[:10] if os.path.isfile(path) else os.listdir(path))\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        f"git = subprocess.run(['git', '--git-dir={project / '.git'}', 'show', 'HEAD:pyproject.toml'],\n"
        "                     capture_output=True, text=True)\n"
        "print('[project]' in git.stdout)\n"
    )
    r = await run_python(code)
    assert r.stdout.split() == ["FileNotFoundError"] * 3 + ["False"], r.stdout + r.stderr
    if shutil.which("git"):  # the same command works outside the sandbox
        git = subprocess.run(
            ["git", f"--git-dir={project / '.git'}", "show", "HEAD:pyproject.toml"],
            capture_output=True,
            text=True,
        )
        assert git.returncode != 0 or "[project]" in git.stdout


async def test_temporary_dirs_are_private_and_nothing_is_left_in_them() -> None:
    needs("private-root")
    name = f"palaestra-test-{os.getpid()}"
    dirs = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
    code = (
        "import os\n"
        f"print(sorted(os.listdir('/tmp')), [os.listdir(d) for d in {dirs[1:]!r}])\n"
        "print([bool(os.statvfs(d).f_flag & os.ST_RDONLY) for d in ('/', '/usr', '/etc', '/tmp', '.')])\n"
        f"for d in {dirs!r}:\n"
        f"    os.makedirs(d + '/{name}/sub')\n"
        f"    open(d + '/{name}/sub/f', 'w').write('left')\n"
    )
    r = await run_python(code)
    assert r.ok, r.stderr
    assert r.stdout.splitlines() == ["['palaestra-sandbox'] [[], [], []]", "[True, True, True, False, False]"]
    assert not any(os.path.exists(f"{d}/{name}") for d in dirs)


async def test_unix_sockets_of_the_host_are_unreachable(tmp_path: Path) -> None:
    needs("private-root")
    tmp_path.chmod(0o755)
    paths = [str(tmp_path / "service.sock")]
    if os.access("/run", os.W_OK):
        paths.append(f"/run/palaestra-test-{os.getpid()}.sock")
    servers = []
    for path in paths:
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen()
        servers.append(server)
    abstract = socket.socket(socket.AF_UNIX)  # bound to the network namespace, not a file
    abstract.bind(f"\0palaestra-test-{os.getpid()}")
    abstract.listen()
    code = (
        "import socket\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        socket.socket(socket.AF_UNIX).connect(path)\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        "try:\n"
        f"    socket.socket(socket.AF_UNIX).connect('\\0palaestra-test-{os.getpid()}')\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    try:
        r = await run_python(code)
    finally:
        abstract.close()
        for server, path in zip(servers, paths, strict=True):
            server.close()
            os.unlink(path)
    assert r.stdout.split() == ["FileNotFoundError"] * len(paths) + ["ConnectionRefusedError"], (
        r.stdout + r.stderr
    )


def shm_keys() -> set[str]:
    with open("/proc/sysvipc/shm") as f:
        return {line.split()[0] for line in f.readlines()[1:]}


async def test_sysv_shared_memory_does_not_outlive_the_run() -> None:
    needs("ipc-namespace")
    key = 0x5A000000 + os.getpid() % 0xFFFF
    code = (
        f"import ctypes\nprint(ctypes.CDLL(None, use_errno=True).shmget({key}, 4096, 0o1000 | 0o666) >= 0)\n"
    )
    r = await run_python(code)
    try:
        assert r.stdout == "True\n", r.stdout + r.stderr
        assert str(key) not in shm_keys()
    finally:
        if str(key) in shm_keys():
            subprocess.run(["ipcrm", "-M", str(key)], check=False)


async def test_memory_is_limited_for_all_the_runs_processes_together() -> None:
    needs("memory-cgroup")
    code = (
        "import os, sys, time\n"
        "kids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'x' * (150 << 20)  # each process stays under its own limit\n"
        "        time.sleep(1)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "alive = sum(os.waitpid(k, 0)[1] == 0 for k in kids)\n"
        "print(alive)\n"
        "sys.exit(alive < 4)\n"
    )
    r = await run_python(code, memory_mb=256, timeout=20)
    assert int(r.stdout) <= 1 and r.limit == "memory", r.stdout + r.stderr


async def test_disk_is_limited_for_all_the_runs_files_together() -> None:
    needs("private-root")
    code = "for name in ('a', '/tmp/b', '/dev/shm/c'):\n    open(name, 'wb').write(b'x' * (10 << 20))\n"
    r = await run_python(code, max_file_mb=16, disk_mb=16, memory_mb=256)
    assert r.limit == "disk" and "No space left on device" in r.stderr, r.stderr


async def test_the_limit_that_ended_the_script_wins_over_what_its_children_printed() -> None:
    """A child dies of MemoryError, then the script itself fails to fork: that is the limit."""
    needs("own-uid")
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    bytearray(1 << 40)\n"
        "os.wait()\n"
        "while True:\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
    )
    r = await run_python(code, max_procs=8, timeout=30)
    assert "MemoryError" in r.stderr and "BlockingIOError" in r.stderr
    assert r.limit == "processes", r.stderr


@pytest.mark.parametrize(
    "disabled",
    [
        {"private-root"},
        {"pid-namespace", "ipc-namespace", "memory-cgroup"},
        {"pid-namespace", "ipc-namespace", "private-root", "memory-cgroup", "network-namespace"},
    ],
)
async def test_without_a_mechanism_the_run_falls_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, disabled: set[str]
) -> None:
    needs("own-uid")
    monkeypatch.setattr(sandbox_process, "_DISABLED", frozenset(disabled))
    project = Path(_PACKAGE_DIR).parents[1]
    code = (
        "import os\nprint(open('in.txt').read())\nopen('out.txt', 'w').write('made')\n"
        f"print(os.path.exists({str(project / 'pyproject.toml')!r}))\n"
    )
    r = await run_python(code, files={"in.txt": "given"}, collect_files=True)
    assert r.ok and r.stdout == "given\nFalse\n" and r.files is not None and r.files["out.txt"] == "made"
    assert not set(r.mechanisms) & disabled and "own-uid" in r.mechanisms
    assert _PACKAGE_DIR in r.hidden
    assert r.network_isolated == ("network-namespace" not in disabled)
