"""An explain that the fault-injection test kills and restarts (run as a script).

    python -m spexlearn.tests._fault_worker CACHE LOG OUT [--raise-after K]

It explains a synthetic sparse function through an Ablation with an on-disk cache. Every
mask handed to the "model" is logged to LOG before it is computed; the interactions go
to OUT as JSON when the explain completes.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from spexlearn import ProxySPEXExplainer
from spexlearn.ablation import Ablation
from spexlearn.datasets import make_sparse_function

N_COMPONENTS, BUDGET = 24, 1200


class LoggedModel(Ablation):
    """A sparse function whose value depends (in the 9th digit) on its batch, like padding."""

    def __init__(self, log, raise_after=None, **kwargs):
        super().__init__(batch_size=8, progress=False, **kwargs)
        _, self.truth = make_sparse_function(N_COMPONENTS, n_terms=20, max_order=3,
                                             random_state=0)
        self.component_names = [f"c{i}" for i in range(N_COMPONENTS)]
        self.log, self.raise_after, self.batches_seen = log, raise_after, 0

    def _fingerprint(self):
        return {"kind": "fault-worker", "n": N_COMPONENTS}

    def _evaluate(self, masks):
        if self.raise_after is not None and self.batches_seen >= self.raise_after:
            raise RuntimeError("injected fault")
        self.batches_seen += 1
        with open(self.log, "a") as handle:
            handle.write("".join(np.packbits(m).tobytes().hex() + "\n" for m in masks))
        time.sleep(0.01)
        return self.truth.evaluate(masks) + 1e-9 * len(masks)


def explain(cache, log, raise_after=None) -> str:
    value = LoggedModel(log, raise_after, cache=cache)
    explainer = ProxySPEXExplainer(value, budget=BUDGET, max_order=3, random_state=0).fit()
    return explainer.interactions_.to_json()


def main(argv: list[str]) -> None:
    cache, log, out = argv[:3]
    raise_after = int(argv[4]) if len(argv) > 4 and argv[3] == "--raise-after" else None
    result = explain(cache, log, raise_after)
    with open(out, "w") as handle:
        handle.write(result)


if __name__ == "__main__":
    main(sys.argv[1:])
