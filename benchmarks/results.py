"""What a run measured, kept as plain data: saved as JSON, read back to report again."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from environment import Facts


@dataclass(frozen=True)
class Measurement:
    """One server on one workload in one round."""

    rate: float  # requests (WebSocket: echoed messages) per second
    p99_ms: float | None = None  # None where the load client gives no usable figure
    errors: dict[str, int] = field(default_factory=dict)  # kind -> count, zeros left out
    server_cpu: float | None = None  # busy share of the server's CPU in the measured window
    client_cpu: float | None = None  # busy share of the load client's CPU


@dataclass(frozen=True)
class MemoryResult:
    """RSS of one server: idle after start-up, and per idle keep-alive connection."""

    idle_rss_kib: int
    wanted_connections: int
    open_connections: int  # still open when measured: the divisor
    rss_before_kib: int
    rss_after_kib: int

    @property
    def per_connection_kib(self) -> float | None:
        if not self.open_connections:
            return None
        return (self.rss_after_kib - self.rss_before_kib) / self.open_connections


@dataclass
class Run:
    """A whole run: its settings, the facts of the machine, and every measurement."""

    facts: Facts
    settings: dict[str, Any]
    servers: list[str]
    workloads: list[str]
    server_commands: dict[str, str]  # server -> command line for the raw app
    client_commands: dict[str, str]  # workload -> load client command line
    # workload -> server -> one entry per round (None: the server failed that round)
    rounds: dict[str, dict[str, list[Measurement | None]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    memory: dict[str, MemoryResult] = field(default_factory=dict)
    # The same with HTTP/2 on and idle HTTP/2 connections (h2c, after the SETTINGS exchange).
    memory_h2: dict[str, MemoryResult] = field(default_factory=dict)
    # "server, h2c" / "server, TLS" -> its command line for the HTTP/2 rows
    h2_server_commands: dict[str, str] = field(default_factory=dict)
    ws_client_ceiling: float | None = None
    load_after: str = ""
    wall_seconds: float = 0.0

    def add(self, workload: str, server: str, measurement: Measurement | None) -> None:
        self.rounds.setdefault(workload, {}).setdefault(server, []).append(measurement)

    def measurements(self, workload: str, server: str) -> list[Measurement]:
        found = self.rounds.get(workload, {}).get(server, [])
        return [entry for entry in found if entry is not None]

    def failed_rounds(self, workload: str, server: str) -> int:
        """Rounds in which this server failed this workload (no measurement)."""
        return sum(entry is None for entry in self.rounds.get(workload, {}).get(server, []))

    def median_rate(self, workload: str, server: str) -> float | None:
        found = self.measurements(workload, server)
        return statistics.median(m.rate for m in found) if found else None

    def median_p99(self, workload: str, server: str) -> float | None:
        found = [m.p99_ms for m in self.measurements(workload, server) if m.p99_ms is not None]
        return statistics.median(found) if found else None

    def median_per_cpu_second(self, workload: str, server: str) -> float | None:
        found = [m.rate / m.server_cpu for m in self.measurements(workload, server) if m.server_cpu]
        return statistics.median(found) if found else None

    def median_cpu(self, workload: str, server: str, side: str) -> float | None:
        shares = [getattr(m, f"{side}_cpu") for m in self.measurements(workload, server)]
        found = [share for share in shares if share is not None]
        return statistics.median(found) if found else None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Run:
        data = json.loads(path.read_text())
        data["facts"] = Facts(**data["facts"])
        data["rounds"] = {
            workload: {
                server: [Measurement(**entry) if entry else None for entry in entries]
                for server, entries in by_server.items()
            }
            for workload, by_server in data["rounds"].items()
        }
        for kind in ("memory", "memory_h2"):  # memory_h2: absent from older runs' files
            found = data.get(kind, {})
            data[kind] = {name: MemoryResult(**entry) for name, entry in found.items()}
        return cls(**data)
