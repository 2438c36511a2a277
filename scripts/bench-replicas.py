#!/usr/bin/env python3
"""Signing throughput through 1, 2 and 3 server replicas, and where the CPU goes.

For each replica count N: a fresh data directory and PostgreSQL database, `planbok dev
--replicas N --database … --redis …` (N > 1: haproxy in front), then `planbok bench` against
the printed URL. While the bench runs, the CPU time of every process is read from /proc
(each of `planbok dev`'s children runs in the data directory), next to the machine's total
(/proc/stat), so the report says which process used what.

Usage (release build first):
    cargo build --release -p planbok-cli
    python3 scripts/bench-replicas.py --bin target/release/planbok [--replicas 1,2,3]
        [--clients 4] [--duration 20s] [--mix sign-message-sol] [--protocols dkls23]

Prints one JSON object per run and a Markdown table at the end. Needs PostgreSQL on
127.0.0.1:5432 (trust, user postgres), Redis on 127.0.0.1:6379 and haproxy.
"""

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

PG = "postgres://postgres@127.0.0.1:5432"
TICK = os.sysconf("SC_CLK_TCK")


def psql(sql):
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True)


def proc_cpu(pid):
    """utime + stime of one process, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def machine_busy():
    """Busy CPU seconds of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    return (sum(cpu[:8]) - idle) / TICK


def name_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
    except FileNotFoundError:
        return None
    if not argv:
        return None
    exe = os.path.basename(argv[0])
    if exe == "haproxy":
        return "haproxy"
    if "--config" in argv:
        config = argv[argv.index("--config") + 1]
        return config.removesuffix(".toml")  # node1, node2, server, server-<i>
    return exe


def children_in(directory):
    """pid -> name of the processes running in `directory`."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") != directory:
                continue
        except OSError:
            continue
        name = name_of(entry)
        if name:
            out[int(entry)] = name
    return out


def wait_for_key(dev, timeout=300):
    deadline = time.time() + timeout
    for line in dev.stdout:
        if line.strip().startswith("owner key"):
            return
        if time.time() > deadline:
            break
    raise SystemExit("planbok dev did not start (see its data directory's logs)")


def run(args, replicas):
    db = f"planbok_benchrep_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {db}")
    data = tempfile.mkdtemp(prefix=f"pb-rep{replicas}-")
    data_dir = os.path.join(data, "data")
    port = args.port
    dev = subprocess.Popen(
        [args.bin, "dev", "--data", data_dir, "--port", str(port),
         "--node-port", str(args.node_port), "--replicas", str(replicas),
         "--database", f"{PG}/{db}", "--redis", "redis://127.0.0.1:6379/0",
         "--insecure-pregenerated-primes", args.primes],
        stdout=subprocess.PIPE, stderr=open(os.path.join(data, "dev.stderr"), "w"),
        text=True)
    try:
        wait_for_key(dev)
        # Keep draining its output.
        subprocess.Popen(["cat"], stdin=dev.stdout, stdout=subprocess.DEVNULL)
        token = open(os.path.join(data_dir, "operator.token")).read().strip()
        env = dict(os.environ, PLANBOK_URL=f"http://127.0.0.1:{port}",
                   PLANBOK_OPERATOR_TOKEN=token)
        env.pop("PLANBOK_API_KEY", None)
        procs = children_in(os.path.realpath(data_dir))
        bench = subprocess.Popen(
            [args.bin, "bench", "--protocols", args.protocols, "--mix", args.mix,
             "--clients", str(args.clients), "--duration", args.duration, "--json"],
            stdout=subprocess.PIPE, env=env, text=True)
        # The bench's own setup (organization, wallets) comes first: sample after it.
        time.sleep(args.setup_seconds)
        before = {pid: proc_cpu(pid) for pid in procs}
        before_bench = proc_cpu(bench.pid)
        busy0, t0 = machine_busy(), time.time()
        time.sleep(args.sample_seconds)
        after = {pid: proc_cpu(pid) for pid in procs}
        after_bench = proc_cpu(bench.pid)
        busy1, t1 = machine_busy(), time.time()
        out, _ = bench.communicate()
        report = json.loads(out)
        wall = t1 - t0
        cpu = {}
        for pid, name in procs.items():
            if before[pid] is not None and after[pid] is not None:
                key = "server" if name.startswith("server") else name
                cpu[key] = cpu.get(key, 0.0) + (after[pid] - before[pid]) / wall
        if before_bench is not None and after_bench is not None:
            cpu["bench"] = (after_bench - before_bench) / wall
        total = (busy1 - busy0) / wall
        cpu["other (PostgreSQL, Redis, kernel)"] = total - sum(cpu.values())
        result = {"replicas": replicas, "report": report,
                  "cores_busy": round(total, 2),
                  "cores_by_process": {k: round(v, 2) for k, v in cpu.items()}}
        print(json.dumps(result), flush=True)
        return result
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default="target/release/planbok")
    p.add_argument("--primes", default="crates/planbok-mpc/tests/fixtures/paillier-primes.json")
    p.add_argument("--replicas", default="1,2,3")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--duration", default="20s")
    p.add_argument("--mix", default="sign-message-sol")
    p.add_argument("--protocols", default="dkls23")
    p.add_argument("--port", type=int, default=18480)
    p.add_argument("--node-port", type=int, default=17901)
    p.add_argument("--setup-seconds", type=float, default=5.0)
    p.add_argument("--sample-seconds", type=float, default=10.0)
    args = p.parse_args()
    results = [run(args, int(n)) for n in args.replicas.split(",")]
    print()
    print("| replicas | req/s | p50 | p90 | p99 | errors | cores busy | by process (cores) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        o = r["report"]["overall"]
        lat = o["latency_ms"]
        errors = sum(o["errors"].values())
        print(f"| {r['replicas']} | {o['throughput']:.0f} | {lat['p50']:.2f} ms | "
              f"{lat['p90']:.2f} ms | {lat['p99']:.2f} ms | {errors} | {r['cores_busy']} | "
              + ", ".join(f"{k} {v}" for k, v in r["cores_by_process"].items()) + " |")


if __name__ == "__main__":
    sys.exit(main())
