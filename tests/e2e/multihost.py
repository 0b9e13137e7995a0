"""Harness for tests with several hypervisor hosts on one machine.

:class:`PrivateLibvirtd` runs an extra *privileged* libvirtd with its own host UUID, socket,
state, run, cache, log and config directories, optionally inside a network namespace. Two
privileged daemons normally clash (both use ``/run/libvirt``, ``/var/lib/libvirt``,
``/etc/libvirt``); here the daemon gets a private mount namespace in which those paths are
bind mounts of its own directories, so it sees nothing of the system daemon and vice versa.
Its socket lives outside the bind mounts, so every process on the machine reaches it at
``qemu+unix:///system?socket=...``. Guests it starts run in its network namespace (their tap
devices and bridges appear there), which is what makes a namespace behave like a host.

:class:`NetnsLab` builds the network: namespaces joined by veth pairs to one bridge in the
root namespace, each with its own address. Everything is removed by ``close()``, which
fixtures call in ``finally``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from overcast.testing.waiting import wait_until

LIBVIRT_DIRS = {  # mount point -> directory name under the daemon's own root
    "/run/libvirt": "run",
    "/var/lib/libvirt": "lib",
    "/var/cache/libvirt": "cache",
    "/var/log/libvirt": "log",
    "/etc/libvirt": "etc",
}


def run(*cmd: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess:
    if netns:
        cmd = ("ip", "netns", "exec", netns, *cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _etc_copy(dest: Path) -> None:
    """/etc/libvirt without the system daemon's domains, networks, pools and secrets."""
    shutil.copytree("/etc/libvirt", dest, symlinks=True)
    for sub in ("qemu", "storage", "secrets", "qemu/networks"):
        d = dest / sub
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
            elif entry.name == "autostart":
                shutil.rmtree(entry)
    # qemu's stdout/stderr to a file: no virtlogd needed in the private namespace
    with open(dest / "qemu.conf", "a") as f:
        f.write('\nstdio_handler = "file"\n')


@dataclass
class PrivateLibvirtd:
    """A privileged libvirtd of its own (see the module docstring). ``start()``, then
    ``uri``; ``stop()`` destroys the guests it runs and stops it."""

    root: Path  # its directories; must not be inside one of LIBVIRT_DIRS
    netns: str | None = None
    host_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    process: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.root / "sock" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self.socket}"

    def start(self, timeout: float = 60) -> PrivateLibvirtd:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ("run", "lib", "cache", "log", "sock"):
            (self.root / name).mkdir(exist_ok=True)
        _etc_copy(self.root / "etc")
        # a warm capabilities cache saves the 8-12 s QEMU probe of a cold start
        if os.path.isdir("/var/cache/libvirt"):
            shutil.copytree("/var/cache/libvirt", self.root / "cache", symlinks=True, dirs_exist_ok=True)
        qemu_lib = self.root / "lib" / "qemu"
        qemu_lib.mkdir(exist_ok=True)
        st = os.stat("/var/lib/libvirt/qemu")
        os.chown(qemu_lib, st.st_uid, st.st_gid)
        os.chmod(qemu_lib, st.st_mode & 0o7777)
        conf = self.root / "libvirtd.conf"
        conf.write_text(
            f'host_uuid = "{self.host_uuid}"\n'
            f'unix_sock_dir = "{self.socket.parent}"\n'
            'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
        )
        mounts = "; ".join(f"mount --bind {self.root / sub} {point}" for point, sub in LIBVIRT_DIRS.items())
        script = f"set -e; {mounts}; exec libvirtd -f {conf} -p {self.root / 'libvirtd.pid'}"
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        with open(self.root / "libvirtd.log", "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"libvirtd exited ({self.process.returncode}): {self.log_tail()}")
            return self.socket.exists() and run("virsh", "-c", self.uri, "version", check=False).returncode == 0

        try:
            wait_until(answers, f"libvirtd in {self.root}", timeout, every=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.root / "libvirtd.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def virsh(self, *args: str, check: bool = True) -> str:
        return run("virsh", "-c", self.uri, *args, check=check).stdout

    def domains(self) -> list[str]:
        return [n for n in self.virsh("list", "--all", "--name", check=False).split() if n]

    def domain_state(self, name: str) -> str | None:
        proc = run("virsh", "-c", self.uri, "domstate", name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            for name in self.domains():
                self.virsh("destroy", name, check=False)
                self.virsh("undefine", "--nvram", name, check=False)
            self.process.terminate()  # the shell exec'd libvirtd: this is the daemon's pid
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        # the mount namespace died with the daemon; its directories are plain files now
        shutil.rmtree(self.root, ignore_errors=True)


# --- network namespaces ---------------------------------------------------------------------


@dataclass
class NetnsLab:
    """Namespaces ``<prefix><name>`` on bridge ``<prefix>br`` in the root namespace, each with
    an address ``<subnet>.<n>/24`` on its ``eth0`` (a veth); the root namespace gets ``.254``.
    Names stay within the 15-byte interface name limit."""

    prefix: str = field(default_factory=lambda: f"ocm{secrets.token_hex(2)}")
    subnet: str = "10.213.0"
    namespaces: dict[str, str] = field(default_factory=dict)  # name -> address

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    def ns(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def start(self, names: Sequence[str]) -> NetnsLab:
        try:
            run("ip", "link", "add", self.bridge, "type", "bridge")
            run("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            for n, name in enumerate(names, start=1):
                ns, outer, addr = self.ns(name), f"{self.prefix}v{n}", f"{self.subnet}.{n}"
                run("ip", "netns", "add", ns)
                run("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
                run("ip", "link", "set", outer, "master", self.bridge, "up")
                run("ip", "-n", ns, "link", "set", "lo", "up")
                run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
                run("ip", "-n", ns, "link", "set", "eth0", "up")
                run("ip", "-n", ns, "route", "add", "default", "via", f"{self.subnet}.254")
                self.namespaces[name] = addr
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for name in list(self.namespaces) or []:
            run("ip", "netns", "del", self.ns(name), check=False)
        # namespaces that failed half-way are not in the dict yet
        for line in run("ip", "netns", "list", check=False).stdout.splitlines():
            if line.startswith(self.prefix):
                run("ip", "netns", "del", line.split()[0], check=False)
        for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
            dev = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if dev.startswith(self.prefix):
                run("ip", "link", "del", dev, check=False)
        self.namespaces.clear()


def netns_pids(name: str) -> list[int]:
    out = run("ip", "netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_netns_processes(name: str, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL, every process in namespace ``name`` (all of them are a test's own)."""
    for sig in (15, 9):
        for pid in netns_pids(name):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            wait_until(lambda: not netns_pids(name), f"the processes in {name} to exit", timeout, every=0.2)
            return
        except AssertionError:  # still there after SIGTERM: SIGKILL
            continue


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def in_netns(name: str | None) -> list[str]:
    """A command prefix that runs a program in network namespace ``name`` but keeps the
    machine's mount namespace (unlike ``ip netns exec``), so the namespaces, mounts and
    files the program makes are visible to everyone, as on a real host. ``None``: here."""
    return ["nsenter", f"--net=/run/netns/{name}"] if name else []


# --- RabbitMQ -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener's files: the broker's certificate and key, and the CA that clients'
    certificates must chain to (``require_client_cert``: no certificate, no connection)."""

    ca_cert: Path
    cert: Path
    key: Path
    require_client_cert: bool = True


@dataclass
class RabbitNode:
    """A private RabbitMQ node (own node name, Mnesia, logs, Erlang cookie) in network
    namespace ``netns`` (``None``: this one), on the standard ports of that namespace (or
    ``port``, and ``port + 20000`` for Erlang distribution). ``stop()`` keeps its data, so
    ``start()`` again is a broker restart with durable queues intact. With ``tls`` it
    listens for AMQP over TLS (``amqps://``) on ``port`` and not in clear."""

    root: Path
    netns: str | None
    nodename: str = field(default_factory=lambda: f"oc-test-{secrets.token_hex(4)}@localhost")
    port: int = 5672
    process: subprocess.Popen | None = None
    tls: BrokerTls | None = None

    def _conf(self) -> str:
        if self.tls is None:
            return f"listeners.tcp.default = {self.port}\nloopback_users.guest = false\n"
        peer = "true" if self.tls.require_client_cert else "false"
        return (
            f"listeners.tcp = none\nlisteners.ssl.default = {self.port}\nloopback_users.guest = false\n"
            f"ssl_options.cacertfile = {self.tls.ca_cert}\nssl_options.certfile = {self.tls.cert}\n"
            f"ssl_options.keyfile = {self.tls.key}\nssl_options.verify = verify_peer\n"
            f"ssl_options.fail_if_no_peer_cert = {peer}\n"
        )

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.root),  # its own .erlang.cookie
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.nodename,
            # (the TLS listener is the config file's: this variable would add one in clear)
            **({} if self.tls else {"RABBITMQ_NODE_PORT": str(self.port)}),
            "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
        }

    def start(self, timeout: float = 120) -> RabbitNode:
        if not (self.root / "rabbitmq.conf").exists():
            for sub in ("mnesia", "log"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            (self.root / "rabbitmq-env.conf").write_text("")
            (self.root / "enabled_plugins").write_text("[].\n")
            (self.root / "rabbitmq.conf").write_text(self._conf())
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [*in_netns(self.netns), "/usr/lib/rabbitmq/bin/rabbitmq-server"],
                env=self._env(),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def listening() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            probe = f"import socket; socket.create_connection(('127.0.0.1', {self.port}), 1)"
            return run(*in_netns(self.netns), "python3", "-c", probe, check=False).returncode == 0

        wait_until(listening, f"RabbitMQ node {self.nodename}", timeout, every=0.5)
        return self

    def _beam_pids(self) -> list[int]:
        """The Erlang VM(s) under our rabbitmq-server script (not epmd: it daemonizes)."""
        if self.process is None:
            return []
        return [pid for pid in descendants(self.process.pid) if _comm(pid).startswith("beam")]

    def stop(self, timeout: float = 60) -> None:
        """A clean broker shutdown (SIGTERM to the Erlang VM)."""
        for pid in self._beam_pids():
            os.kill(pid, 15)
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in [*self._beam_pids(), self.process.pid]:
                    os.kill(pid, 9)
                self.process.wait(10)
        self.process = None
