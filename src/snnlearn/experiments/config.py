"""``Config``: everything that defines one training run, as a frozen, validated dataclass.

A config is plain data: it round-trips through JSON (``to_dict``/``from_dict``) and can be read
from a TOML file (``from_toml``). Architecture and training fields left as ``None`` take the
task's :class:`~snnlearn.tasks.base.TaskDefaults`; the runner writes the resolved config (every
``None`` filled in) to ``config.json``, so a run folder alone reproduces the run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["Config", "DEVICES", "with_defaults"]

Device = Literal["cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("cpu", "cuda")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


LR_SCHEDULES = ("cosine", "constant")
RESETS = ("subtract", "hard")
LAYER_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "dense": {"size": int, "recurrent": bool, "dale": (int, float)},
    "conv1d": {"channels": int, "kernel": int, "stride": int, "padding": (int, str),
               "dale": (int, float)},
    "conv2d": {"channels": int, "kernel": int, "stride": int, "padding": (int, str),
               "dale": (int, float)},
    "pool": {"size": int, "pool": str},
    "flatten": {},
    "dropout": {"p": (int, float)},
    "norm": {},
}
"""The keys of each layer kind in ``Config.layers`` (besides ``kind``)."""
_REQUIRED = {"dense": ("size",), "conv1d": ("channels",), "conv2d": ("channels",)}


def check_layers(specs: object) -> tuple[dict[str, Any], ...]:
    """Validate an architecture (a list of layer tables); one-line errors naming the entry.

    Example:
        >>> check_layers([{"kind": "conv2d", "channels": 8, "kernel": 3}, {"kind": "pool"}])
        ({'kind': 'conv2d', 'channels': 8, 'kernel': 3}, {'kind': 'pool'})
    """
    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, (list, tuple)):
        raise ValueError(f"layers must be a list of layer tables, e.g. [{{kind = \"dense\", "
                         f"size = 64}}], got {specs!r}")
    if not specs:
        raise ValueError("layers must list at least one layer")
    out = []
    for k, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or spec.get("kind") not in LAYER_KEYS:
            kind = spec.get("kind") if isinstance(spec, Mapping) else spec
            raise ValueError(f"layers[{k}]: unknown layer kind {kind!r}; valid kinds: "
                             f"{', '.join(LAYER_KEYS)}")
        kind, keys = spec["kind"], LAYER_KEYS[spec["kind"]]
        for key, value in spec.items():
            if key == "kind":
                continue
            if key not in keys:
                raise ValueError(f"layers[{k}] ({kind}): unknown key {key!r}; valid keys: "
                                 f"{', '.join(keys) or 'none'}")
            want = keys[key]
            if isinstance(value, bool) and want is not bool or not isinstance(value, want):
                raise ValueError(f"layers[{k}] ({kind}): {key} has the wrong type "
                                 f"({type(value).__name__}): {value!r}")
            if want is int and value < 1:
                raise ValueError(f"layers[{k}] ({kind}): {key} must be >= 1, got {value!r}")
        for key in _REQUIRED.get(kind, ()):
            if key not in spec:
                raise ValueError(f"layers[{k}] ({kind}) needs {key!r}")
        out.append(dict(spec))
    return tuple(out)


def parse_layers(text: str) -> list[dict[str, Any]]:
    """The CLI shorthand ``conv2d:8:3,pool:2,dense:64`` as layer tables.

    Forms: ``dense:SIZE[:rec]``, ``conv1d:CHANNELS[:KERNEL[:STRIDE]]``,
    ``conv2d:CHANNELS[:KERNEL[:STRIDE]]``, ``pool:SIZE[:sum|avg|max]``, ``flatten``,
    ``dropout:P``, ``norm``.

    Example:
        >>> parse_layers("conv2d:8:3,pool:2,dense:64:rec")
        [{'kind': 'conv2d', 'channels': 8, 'kernel': 3}, {'kind': 'pool', 'size': 2}, \
{'kind': 'dense', 'size': 64, 'recurrent': True}]
    """
    names = {"conv1d": ("channels", "kernel", "stride"), "conv2d": ("channels", "kernel", "stride"),
             "dense": ("size",), "pool": ("size", "pool"), "dropout": ("p",),
             "flatten": (), "norm": ()}
    specs = []
    for item in (part.strip() for part in text.split(",")):
        kind, *args = item.split(":")
        if kind not in names:
            raise ValueError(f"--layers: unknown layer kind {kind!r} in {item!r}; valid kinds: "
                             f"{', '.join(names)}")
        spec: dict[str, Any] = {"kind": kind}
        recurrent = kind == "dense" and bool(args) and args[-1] == "rec"
        if recurrent:
            args = args[:-1]
        if len(args) > len(names[kind]):
            raise ValueError(f"--layers: {item!r} has too many fields; {kind} takes "
                             f"{':'.join(names[kind]) or 'none'}")
        for key, value in zip(names[kind], args, strict=False):
            try:
                spec[key] = float(value) if key == "p" else value if key == "pool" else int(value)
            except ValueError:
                raise ValueError(f"--layers: {item!r}: {key} must be a number, got "
                                 f"{value!r}") from None
        if recurrent:
            spec["recurrent"] = True
        specs.append(spec)
    return specs


def epoch_lr(lr: float, schedule: str, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (1-based) of ``epochs`` under ``schedule``.

    Cosine annealing: ``lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2``.

    Example:
        >>> epoch_lr(0.1, "cosine", 1, 10), epoch_lr(0.1, "constant", 7, 10)
        (0.1, 0.1)
    """
    if schedule == "constant":
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


@dataclass(frozen=True)
class Config:
    """One training run: task, learning rule, seed and optional overrides of the task defaults.

    Args:
        task: task id (see ``snnlearn list``).
        rule: learning-rule id.
        epochs: training epochs (>= 1); ``None`` takes the task default.
        seed: the run's only seed (int >= 0): initial weights, shuffling and spike encoding.
        device: ``"cpu"`` or ``"cuda"``.
        out: run folder; ``None`` means ``runs/<task>-<rule>-s<seed>``.
        batch_size: minibatch size (>= 1); ``None`` takes the task default.
        lr: Adam learning rate (> 0); ``None`` takes the task default.
        hidden: hidden layer sizes (each >= 1); ``None`` takes the task default.
        recurrent: recurrent hidden layers; ``None`` takes the task default.
        gain: initial weight gain (> 0); ``None`` takes the task default.
        neuron: hidden neuron model, ``"lif"`` or ``"alif"``; ``None`` takes the task default.
        activity_reg: strength (>= 0) of :func:`snnlearn.losses.activity_regularizer` added to
            the loss; 0 disables it.
        grad_clip: clip the global gradient norm to this value (> 0); ``None`` disables it.
        eval_every: evaluate on the validation split every this many epochs (and after the last).
        lr_schedule: ``"cosine"`` (learning rate annealed to 0 over the run, a pure function of
            the epoch so that resuming is exact) or ``"constant"``.
        distributed: data-parallel training over the processes that ``torchrun`` starts (see
            :mod:`snnlearn.experiments.distributed`); the result is that of one process on the
            same global ``batch_size``.
        tensorboard: also log the metrics to TensorBoard in ``<out>/tensorboard`` (needs the
            ``tensorboard`` package).
        delays: largest learnable synaptic delay (s, > 0) of the spiking layers' feed-forward
            synapses (:class:`~snnlearn.layers.Delayed`); ``None`` (default) for none.
            Only rules whose support matrix has ``delayed`` synapses train them.
        layers: the hidden architecture, a list of layer tables (TOML ``[[layers]]``, CLI
            ``--layers conv2d:8:3,pool:2,dense:64``; see :func:`check_layers`); replaces
            ``hidden``/``recurrent`` when given. Conv layers need an image task.
        dale: fraction of excitatory presynaptic units of every hidden synapse (Dale's law), or
            ``None``; a layer table's own ``dale`` wins.
        graded: graded spikes (a learnable amplitude per neuron) in every hidden layer.
        reset: hidden neurons' reset, ``"subtract"`` or ``"hard"``; ``None`` takes the task's.
        task_options: keyword options of the task (TOML ``[task_options]``, CLI
            ``--task-option n_steps=200``), e.g. ``n_steps``, ``dt``, ``n_train``.
        rule_options: keyword options of the rule (a TOML table ``[rule_options]``, or
            ``--rule-option KEY=VALUE``), e.g. ``{"inner": "superspike", "threshold": 10}`` for
            ``error_triggered``; ``None`` (default) for the rule's defaults.

    Raises:
        ValueError: an unknown id (the message lists the valid ones) or an out-of-range value.

    Example:
        >>> cfg = Config(task="yinyang", epochs=2, hidden=[32])
        >>> cfg.hidden, cfg.rule
        ((32,), 'bptt')
        >>> Config.from_dict(cfg.to_dict()) == cfg
        True
    """

    task: str
    rule: str = "bptt"
    epochs: int | None = None
    seed: int = 0
    device: Device = "cpu"
    out: str | None = None
    batch_size: int | None = None
    lr: float | None = None
    hidden: tuple[int, ...] | None = None
    recurrent: bool | None = None
    gain: float | None = None
    neuron: str | None = None
    activity_reg: float = 0.0
    grad_clip: float | None = None
    eval_every: int = 1
    lr_schedule: str = "cosine"
    distributed: bool = False
    tensorboard: bool = False
    delays: float | None = None
    layers: tuple[dict[str, Any], ...] | None = None
    dale: float | None = None
    graded: bool = False
    reset: str | None = None
    task_options: dict[str, Any] | None = None
    rule_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from snnlearn.experiments import registry  # imports torch: not before a Config is made

        registry.check_task_id(self.task)
        registry.check_rule_id(self.rule)
        if self.neuron is not None:
            registry.check_neuron_id(self.neuron)
        if self.device not in DEVICES:
            raise ValueError(
                f"unknown device {self.device!r}; valid devices: {', '.join(DEVICES)}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and not (_is_int(value) and value >= 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"unknown lr_schedule {self.lr_schedule!r}; valid schedules: "
                f"{', '.join(LR_SCHEDULES)}"
            )
        if not (_is_int(self.eval_every) and self.eval_every >= 1):
            raise ValueError(f"eval_every must be an int >= 1, got {self.eval_every!r}")
        if not (_is_int(self.seed) and 0 <= self.seed < 2**32):
            raise ValueError(f"seed must be an int in [0, 2**32), got {self.seed!r}")
        for name in ("lr", "gain", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (_is_number(self.activity_reg) and self.activity_reg >= 0):
            raise ValueError(
                f"activity_reg must be a finite number >= 0, got {self.activity_reg!r}"
            )
        if self.layers is not None:
            object.__setattr__(self, "layers", check_layers(self.layers))
        if self.dale is not None and not (_is_number(self.dale) and 0 < self.dale <= 1):
            raise ValueError(f"dale must be the fraction of excitatory units in (0, 1], got "
                             f"{self.dale!r}")
        if self.reset is not None and self.reset not in RESETS:
            raise ValueError(f"unknown reset {self.reset!r}; valid resets: {', '.join(RESETS)}")
        if self.task_options is not None:
            if not isinstance(self.task_options, Mapping) or not all(
                    isinstance(k, str) for k in self.task_options):
                raise ValueError(f"task_options must be a table of option names to values, got "
                                 f"{self.task_options!r}")
            object.__setattr__(self, "task_options", dict(self.task_options))
        for name in ("distributed", "tensorboard", "graded"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.delays is not None:
            if not (_is_number(self.delays) and self.delays > 0):
                raise ValueError(f"delays (the largest delay, s) must be a finite number > 0 or "
                                 f"None, got {self.delays!r}")
        if self.recurrent is not None and not isinstance(self.recurrent, bool):
            raise ValueError(f"recurrent must be true or false, got {self.recurrent!r}")
        if self.out is not None and not (isinstance(self.out, str) and self.out):
            raise ValueError(f"out must be a non-empty path string, got {self.out!r}")
        if self.hidden is not None:
            sizes = self.hidden
            if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (list, tuple)):
                raise ValueError(f"hidden must be a list of layer sizes, got {sizes!r}")
            if len(sizes) == 0 or not all(_is_int(n) and n >= 1 for n in sizes):
                raise ValueError(
                    f"hidden must be a non-empty list of ints >= 1 (e.g. [128, 64]), got {sizes!r}"
                )
            object.__setattr__(self, "hidden", tuple(sizes))
        if self.rule_options is not None:
            options = self.rule_options
            if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
                raise ValueError("rule_options must be a table of option names to values, got "
                                 f"{options!r}")
            object.__setattr__(self, "rule_options", dict(options))
            registry.make_rule(self.rule, self.rule_options)  # unknown or invalid options raise

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Names of every config key, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field (``hidden`` as a list)."""
        d = {name: getattr(self, name) for name in self.keys()}
        if d["hidden"] is not None:
            d["hidden"] = list(d["hidden"])
        if d["rule_options"] is not None:
            d["rule_options"] = dict(d["rule_options"])
        if d["layers"] is not None:
            d["layers"] = [dict(spec) for spec in d["layers"]]
        if d["task_options"] is not None:
            d["task_options"] = dict(d["task_options"])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build a config from a mapping such as the output of :meth:`to_dict`.

        Raises:
            ValueError: unknown keys (named, with the valid keys listed), a missing ``task``, or
                an invalid value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a config must be a table of keys, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.keys()))
        if unknown:
            raise ValueError(
                f"unknown config key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys: {', '.join(cls.keys())}"
            )
        if "task" not in data:
            raise ValueError("the config has no 'task'; set task = \"<id>\" (see snnlearn list)")
        return cls(**dict(data))

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> Config:
        """Read a config from a TOML file of top-level keys, then apply ``overrides``.

        ``overrides`` (for example the options given on the command line) win over the file;
        an override whose value is ``None`` is ignored (it means "not given").

        Raises:
            ValueError: the file is missing or not valid TOML, or the merged config is invalid.
        """
        return cls.from_dict(merge(read_toml(path), overrides or {}))

    def merged(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with ``overrides`` applied (``None`` values are ignored)."""
        return type(self).from_dict(merge(self.to_dict(), overrides))


def with_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` plus the default of every :class:`Config` key it lacks that has one.

    A config written before a key was added to :class:`Config` (such as ``distributed``) thus
    compares equal to the same config written after.

    Example:
        >>> with_defaults({"task": "yinyang"})["distributed"]
        False
    """
    defaults = {f.name: f.default for f in dataclasses.fields(Config)
                if f.default is not dataclasses.MISSING}
    return {**defaults, **data}


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with every entry of ``overrides`` whose value is not ``None``."""
    merged = dict(base)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return merged


def read_toml(path: str | Path) -> dict[str, Any]:
    """The top-level table of the TOML file ``path``.

    Raises:
        ValueError: the file does not exist or is not valid TOML (the message names the file).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as err:
            raise ValueError(
                "reading TOML configs needs Python >= 3.11 or the 'tomli' package "
                "(pip install tomli)"
            ) from err
    from snnlearn.experiments.runfiles import MAX_JSON_BYTES

    path = Path(path)
    try:
        if path.exists() and not path.is_file():
            raise ValueError(f"config file {str(path)!r} is not a regular file (a folder or a "
                             "device); pass a .toml file")
        with path.open("rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise ValueError(f"config file {str(path)!r} is larger than "
                             f"{MAX_JSON_BYTES >> 20} MiB; it is not a TOML config")
        return tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError as err:
        raise ValueError(f"config file {str(path)!r} does not exist") from err
    except OSError as err:
        raise ValueError(f"config file {str(path)!r} cannot be read "
                         f"({err.strerror or err})") from err
    except UnicodeDecodeError:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text (binary?); a TOML "
                         "config is text") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {err}") from err
