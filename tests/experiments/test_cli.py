from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import cli, registry


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snnlearn: error: ")
    return lines[0]


@pytest.mark.parametrize(("argv", "expected"), [
    (["train", "--task", "foo"], "unknown task 'foo'; valid tasks: autoencoder, digits, evidence, "
                                 "mnist, randman, shd, spike_pattern, ssc, yinyang, tonic:<NAME>, "
                                 "folder:<folder>, py:<module>:<Class>"),
    (["train", "--task", "yinyang", "--rule", "sgd"], "unknown rule 'sgd'; valid rules: bptt"),
    (["train", "--task", "yinyang", "--neuron", "qif"], "unknown neuron 'qif'; valid neurons: "),
    (["train", "--task", "yinyang", "--neuron", "hh"], "neuron 'hh' takes inputs in physical "),
    (["train", "--task", "yinyang", "--bogus", "1"], "unrecognized argument(s) --bogus 1; valid"),
    (["train", "--task", "yinyang", "--epochs", "x"], "argument --epochs: invalid int value"),
    (["train", "--task", "yinyang", "--epochs", "0"], "epochs must be an int >= 1, got 0"),
    (["train", "--task", "yinyang", "--hidden", "12,a"], "invalid layer sizes '12,a'"),
    (["train", "--task", "yinyang", "--device", "tpu"], "unknown device 'tpu'; valid devices"),
    (["train"], "no task given; use --task"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "no command given; valid commands: train, resume, compare, evaluate, list"),
    (["resume"], "the following arguments are required: dir"),
])
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    status, out, err = _main(capsys, *argv)
    assert status == 2 and out == ""
    assert expected in _one_line(err)


def test_unknown_option_lists_valid_options(capsys: pytest.CaptureFixture[str]) -> None:
    # `--epoch` must not be taken as an abbreviation of `--epochs`
    status, _, err = _main(capsys, "train", "--task", "yinyang", "--epoch", "3",
                           "--out", "/nonexistent/never")
    assert status == 2 and "--epochs" in _one_line(err) and "--task" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _main(capsys, "train", "--task", "yinyang", "--device", "cuda")
    assert status == 2 and "no CUDA device" in _one_line(err)


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _main(capsys, "list")
    assert status == 0
    lines = out.splitlines()
    ids = [line.split()[0] for line in lines]
    assert ids == ["tasks:", *sorted(registry.TASKS), "tonic:<NAME>", "folder:<folder>",
                   "py:<module>:<Class>", "rules:",
                   *sorted(registry.RULES), "neurons:", *sorted(registry.NEURONS)]
    described = [line for line in lines if not line.endswith(":")]
    assert all(len(line.split()) > 1 for line in described)  # every id has a description
    for known in ("yinyang", "randman", "digits", "shd", "ssc", "mnist", "bptt", "eventprop",
                  "eprop", "superspike", "decolle", "fa", "dfa", "lif", "alif", "li"):
        assert known in ids


def test_list_matrix_has_a_row_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _main(capsys, "list", "--matrix")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "rule" not in line]
    assert status == 0 and sorted(r.split("|")[1].strip() for r in rows) == sorted(
        registry.RULES)


def test_version_and_every_config_key_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    from snnlearn.experiments.cli import build_parser
    from snnlearn.experiments.config import Config

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert "snnlearn 0.1.0" in capsys.readouterr().out
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
    dests = {a.dest for a in train._actions}
    flags = {"delays": "max_delay", "rule_options": "rule_option", "task_options": "task_option"}
    for f in dataclasses.fields(Config):
        assert flags.get(f.name, f.name) in dests, f.name


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "resume", "evaluate", "list"):
        assert command in out


def test_python_dash_m_is_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "snnlearn", "train", "--task", "foo"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert _one_line(done.stderr) == (
        "snnlearn: error: unknown task 'foo'; valid tasks: autoencoder, digits, evidence, mnist, "
        "randman, shd, spike_pattern, ssc, yinyang, tonic:<NAME>, folder:<folder>, "
        "py:<module>:<Class>")


def test_task_without_its_data_on_disk_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    status, out, err = _main(capsys, "train", "--task", "shd", "--out", str(tmp_path / "run"),
                             "--no-progress")
    assert status == 1 and out == ""
    assert "shd" in _one_line(err).lower() and str(tmp_path) in err


def test_train_then_evaluate_and_resume(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "run"
    status, out, err = _main(capsys, "train", "--task", toy, "--epochs", "2", "--hidden", "16",
                             "--seed", "1", "--out", str(out_dir), "--no-progress")
    assert status == 0, err
    assert out.startswith("test accuracy ") and out.endswith(f"(toy, bptt, 2 epochs, "
                                                             f"{out.split(', ')[-1][:-1]}\n")
    assert f"-> {out_dir}" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["seed"] == 1 and summary["epochs"] == 2
    status, out, _ = _main(capsys, "evaluate", str(out_dir))
    assert status == 0 and json.loads(out) == summary
    status, out, _ = _main(capsys, "resume", str(out_dir), "--no-progress")
    assert status == 0 and out.startswith("test accuracy")
    status, _, err = _main(capsys, "train", "--task", toy, "--out", str(out_dir))
    assert status == 1 and "snnlearn resume" in _one_line(err)


def test_config_file_with_overrides(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_text(f'task = "{toy}"\nepochs = 5\nhidden = [16]\nlr = 0.03\n'
                    f'out = "{tmp_path / "r"}"\n')
    status, _, err = _main(capsys, "train", "--config", str(path), "--epochs", "1",
                           "--no-progress")
    assert status == 0, err
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["epochs"], config["lr"], config["hidden"]) == (1, 0.03, [16])
    path.write_text(f'task = "{toy}"\nepoch = 5\n')
    status, _, err = _main(capsys, "train", "--config", str(path))
    assert status == 2 and "unknown config key(s) 'epoch'" in _one_line(err)


def test_ctrl_c_says_how_to_resume(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(cfg: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    from snnlearn.experiments import runner

    monkeypatch.setattr(runner, "run", interrupted)  # the CLI imports it when a command runs
    status, _, err = _main(capsys, "train", "--task", toy, "--out", str(tmp_path / "r"))
    assert status == 130
    command = f"snnlearn resume {tmp_path / 'r'}"
    assert err == f"snnlearn: interrupted; continue the run with `{command}`\n"


def test_corrupt_checkpoint_exits_1(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "r"
    assert _main(capsys, "train", "--task", toy, "--epochs", "1", "--out", str(out_dir),
                 "--no-progress")[0] == 0
    ckpt = out_dir / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:50])
    status, _, err = _main(capsys, "resume", str(out_dir))
    assert status == 1 and "checkpoint.pt" in _one_line(err) and "corrupt" in err
    status, _, err = _main(capsys, "resume", str(tmp_path / "missing"))
    assert status == 1 and "config.json" in _one_line(err)
    status, _, err = _main(capsys, "evaluate", str(tmp_path / "missing"))
    assert status == 1 and "summary.json" in _one_line(err)


def test_non_finite_loss_exits_1(
    toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _main(capsys, "train", "--task", "toy_nan", "--out", str(tmp_path / "r"),
                           "--no-progress")
    assert status == 1 and "loss became nan" in _one_line(err)


def test_end_to_end_on_yinyang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("snnlearn.tasks.yinyang")
    out_dir = tmp_path / "y"
    status, out, err = _main(capsys, "train", "--task", "yinyang", "--epochs", "1", "--hidden",
                             "8", "--batch-size", "1000", "--out", str(out_dir), "--no-progress")
    assert status == 0, err
    assert "(yinyang, bptt, 1 epoch," in out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["task"] == "yinyang"
