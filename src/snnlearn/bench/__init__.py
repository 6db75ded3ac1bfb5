"""The BENCHMARKS.md workload, written in snnlearn and in each peer library, and its runner."""

from snnlearn.bench.peers import PEERS, build_peer, peer_installed
from snnlearn.bench.roofline import Peaks, measure_peaks, step_floor
from snnlearn.bench.run import RECORD_KEYS, check_peers, run_bench, to_markdown
from snnlearn.bench.workload import CPU_SHAPES, GPU_SHAPES, Shape, SnnlearnModel, parse_shape

__all__ = [
    "PEERS", "build_peer", "peer_installed", "Peaks", "measure_peaks", "step_floor",
    "RECORD_KEYS", "check_peers", "run_bench", "to_markdown", "CPU_SHAPES", "GPU_SHAPES", "Shape",
    "SnnlearnModel", "parse_shape",
]
