"""Few-shot episodes (N-way K-shot) drawn from the labelled split of any classification task.

An episode picks ``n_way`` distinct classes of the split in a random order; the position of a
class in that order is its *episode label* ``0 .. n_way - 1``, so the mapping from classes to
labels is a fresh random permutation in every episode and nothing about it can be stored in fixed
weights. For each picked class, ``k_shot`` distinct examples form the support set (presented with
their episode labels, in random order), and ``n_query`` queries per episode are drawn from the
picked classes, uniformly, among the examples not in the support set.

Example indices, not data, are returned, so the same draw can be encoded by any task.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from snnlearn.tasks.base import TaskData

__all__ = ["Episodes", "sample_episodes"]


class Episodes(NamedTuple):
    """A batch of few-shot episodes, as indices into one split.

    Attributes:
        support: example indices ``[B, n_way * k_shot]``, in presentation order.
        support_labels: episode labels ``[B, n_way * k_shot]`` (int64 in ``0 .. n_way - 1``).
        query: example indices ``[B, n_query]``.
        query_labels: episode labels ``[B, n_query]``.
        classes: the split's class of each episode label ``[B, n_way]``: episode label ``j`` of
            episode ``b`` is class ``classes[b, j]``.
    """

    support: Tensor
    support_labels: Tensor
    query: Tensor
    query_labels: Tensor
    classes: Tensor


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def sample_episodes(
    data: TaskData, *, n_episodes: int, n_way: int, k_shot: int, n_query: int,
    generator: torch.Generator | None = None,
) -> Episodes:
    """Draw ``n_episodes`` independent N-way K-shot episodes from ``data``.

    Args:
        data: a labelled split (labels ``0 .. C - 1``).
        n_episodes: number of episodes ``B`` (>= 1).
        n_way: classes per episode (2 <= ``n_way`` <= ``C``).
        k_shot: support examples per class (>= 1).
        n_query: queries per episode (>= 1).
        generator: random generator of every draw.

    Shapes:
        See :class:`Episodes`.

    Returns:
        The :class:`Episodes`.

    Raises:
        ValueError: a count out of range, or a class of ``data`` with fewer than
            ``k_shot + n_query`` examples (so that queries can always avoid the support set).

    Example:
        >>> import torch
        >>> data = TaskData(torch.rand(40, 3), torch.arange(40) % 4)
        >>> ep = sample_episodes(data, n_episodes=2, n_way=3, k_shot=2, n_query=5,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> tuple(ep.support.shape), tuple(ep.query.shape)
        ((2, 6), (2, 5))
        >>> bool((data.labels[ep.query] == ep.classes.gather(1, ep.query_labels)).all())
        True
    """
    n_episodes = _check_count("n_episodes", n_episodes, 1)
    k_shot = _check_count("k_shot", k_shot, 1)
    n_query = _check_count("n_query", n_query, 1)
    n_classes = int(data.labels.max()) + 1 if len(data) else 0
    n_way = _check_count("n_way", n_way, 2)
    if n_way > n_classes:
        raise ValueError(f"n_way must be <= the split's {n_classes} classes, got {n_way}")
    members = [torch.nonzero(data.labels == c).flatten() for c in range(n_classes)]
    smallest = min(len(m) for m in members)
    if smallest < k_shot + n_query:
        raise ValueError(
            f"every class needs k_shot + n_query = {k_shot + n_query} examples, but one class "
            f"of the split has only {smallest}; lower k_shot or n_query"
        )
    classes = torch.stack([torch.randperm(n_classes, generator=generator)[:n_way]
                           for _ in range(n_episodes)])
    query_labels = torch.randint(n_way, (n_episodes, n_query), generator=generator)
    support = torch.empty(n_episodes, n_way, k_shot, dtype=torch.int64)
    query = torch.empty(n_episodes, n_query, dtype=torch.int64)
    for b in range(n_episodes):
        for j in range(n_way):
            pool = members[int(classes[b, j])]
            order = pool[torch.randperm(len(pool), generator=generator)]
            support[b, j] = order[:k_shot]
            asked = torch.nonzero(query_labels[b] == j).flatten()
            query[b, asked] = order[k_shot:k_shot + len(asked)]
    labels = torch.arange(n_way).repeat_interleave(k_shot).expand(n_episodes, -1)
    shuffle = torch.stack([torch.randperm(n_way * k_shot, generator=generator)
                           for _ in range(n_episodes)])
    return Episodes(support.flatten(1).gather(1, shuffle), labels.gather(1, shuffle), query,
                    query_labels, classes)
