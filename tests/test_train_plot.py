"""The training curves plot: its legend sits below the panels, inside the figure, covering no curve."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analogopt.train import plot_curves


def _history(seed: int, epochs: int = 12) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    acc = np.clip(np.linspace(0.1, 0.9, epochs) + 0.05 * rng.standard_normal(epochs), 0, 1)
    loss = np.exp(-np.linspace(0, 3, epochs)) * (1 + 0.1 * rng.random(epochs))
    return {"train_accuracy": list(acc), "test_accuracy": list(acc * 0.95),
            "train_loss": list(loss), "test_loss": list(loss * 1.1)}


@pytest.mark.parametrize("runs", [1, 3, 7])
def test_the_legend_is_below_the_panels_and_inside_the_figure(runs):
    fig = plot_curves({f"rule {k}": _history(k) for k in range(runs)}, "rules on digits")
    try:
        fig.canvas.draw()
        (legend,) = fig.legends
        box = legend.get_window_extent()
        assert len(legend.get_texts()) == 2 * runs
        for ax in fig.axes:
            panel = ax.get_tightbbox()  # the axes with their tick labels and axis labels
            assert box.y1 <= panel.y0 + 1e-6, f"the legend reaches into {ax.get_ylabel()!r}'s panel"
        assert box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.width
    finally:
        plt.close(fig)
