"""Data-parallel training: 2 gloo processes on the CPU end where one process ends.

The two-process runs are launched with ``torchrun --standalone --nproc_per_node=2`` (as a user
would), on the toy task of ``conftest.py``, and compared with single-process runs of the same
global batch. They agree to float32 rounding, not bit for bit: each process sums the gradient
over its half of the batch and the halves are then added (and scaled by the sample counts), so
the additions happen in another order than in one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import distributed
from snnlearn.experiments.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import resume, run

CONFTEST = Path(__file__).with_name("conftest.py")
RTOL, ATOL = 1e-5, 1e-6  # float32 rounding, amplified a little by Adam over 8 steps

WORKER = textwrap.dedent("""
    import sys, types
    from types import MappingProxyType
    import torch
    spec = __import__("importlib.util").util.spec_from_file_location("toy_conftest", sys.argv[1])
    toy = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    from snnlearn.experiments import registry
    from snnlearn.experiments.config import Config
    from snnlearn.experiments.runner import resume, run
    registry.TASKS = MappingProxyType({**registry.TASKS, "toy": toy.ToyTask})
    torch.distributed.init_process_group("gloo")  # so that both runs share one group
    out = sys.argv[2]
    run(Config(task="toy", rule="bptt", epochs=2, seed=3, out=out + "/bptt", distributed=True))
    def stop(record):
        raise KeyboardInterrupt
    cfg = Config(task="toy", rule="eprop", epochs=2, seed=3, out=out + "/eprop", distributed=True)
    try:
        run(cfg, on_epoch=stop)
    except KeyboardInterrupt:
        pass
    resume(out + "/eprop")
    torch.distributed.destroy_process_group()
""")


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / CHECKPOINT_NAME, map_location="cpu")["model"]


def test_two_gloo_processes_match_one_process(toy: str, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(CONFTEST), str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("bptt", "eprop"):
        single = run(Config(task=toy, rule=rule, epochs=2, seed=3, out=str(tmp_path / rule)))
        ddp_dir = tmp_path / "ddp" / rule
        a, b = _weights(tmp_path / rule), _weights(ddp_dir)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(b[k], a[k], rtol=RTOL, atol=ATOL, msg=f"{rule}: {k}")
        err = max(float((a[k] - b[k]).abs().max()) for k in a)
        print(f"{rule}: max |w_ddp - w_single| = {err:.3g}")
        # rank 0 alone wrote the run folder; metrics are those of the global batches
        ddp = json.loads((ddp_dir / "summary.json").read_text())
        assert ddp["test_accuracy"] == single.summary["test_accuracy"]
        lines = (ddp_dir / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(ln)["epoch"] for ln in lines] == [1, 2]
        reference = (tmp_path / rule / "metrics.jsonl").read_text().splitlines()
        for mine, ref in zip(lines, reference, strict=True):
            m, r = json.loads(mine), json.loads(ref)
            assert m["train_accuracy"] == r["train_accuracy"]
            assert m["train_loss"] == pytest.approx(r["train_loss"], rel=1e-5)
    assert json.loads((tmp_path / "ddp" / "bptt" / "config.json").read_text())["distributed"]


def test_without_torchrun_the_error_says_how_to_launch(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node=N"):
        run(Config(task=toy, epochs=1, out=str(tmp_path / "r"), distributed=True))
    assert not (tmp_path / "r").exists()


def test_single_process_helpers_are_identities() -> None:
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    distributed.all_reduce_grads([p], 4)
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    assert torch.equal(distributed.shard(torch.arange(4)), torch.arange(4))
    with pytest.raises(ValueError, match="n_local must be >= 0"):
        distributed.all_reduce_grads([p], -1)


def test_distributed_config_field_is_validated() -> None:
    with pytest.raises(ValueError, match="distributed must be true or false"):
        Config(task="yinyang", distributed="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tensorboard must be true or false"):
        Config(task="yinyang", tensorboard=1)  # type: ignore[arg-type]


def test_a_run_from_before_the_new_keys_still_resumes(toy: str, tmp_path: Path) -> None:
    """config.json and checkpoint of an older version lack distributed/tensorboard."""
    out = tmp_path / "old"

    def stop(record: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(Config(task=toy, epochs=2, out=str(out)), on_epoch=stop)
    config = json.loads((out / "config.json").read_text())
    for key in ("distributed", "tensorboard"):
        del config[key]
    (out / "config.json").write_text(json.dumps(config))
    ckpt = load_checkpoint(out / CHECKPOINT_NAME)
    del ckpt["config"]["distributed"], ckpt["config"]["tensorboard"]
    save_checkpoint(out / CHECKPOINT_NAME, ckpt)
    assert resume(out).summary["epochs"] == 2
