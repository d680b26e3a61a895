"""Progress for training loops: a tqdm bar plus live curves in Jupyter. Replaces d2l's
``Animator``.

Hand-written (not exported from a notebook). In a Jupyter kernel the figure redraws in
place as points arrive; in CI (``CI`` set), in the smoke profile, or outside a kernel it
only draws once, at :meth:`close`.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

from matplotlib.figure import Figure
from tqdm.auto import tqdm

from d2lx.runtime import profile

__all__ = ["ProgressBoard", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures and widgets render)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _display(fig: Figure, handle):
    """Show ``fig`` in the notebook: in a new output the first time, then in place of
    ``handle``'s; return the handle to pass next time."""
    if handle is None:
        from IPython.display import display

        return display(fig, display_id=True)
    handle.update(fig)
    return handle


class ProgressBoard:
    """A progress bar over ``total`` steps and live curves of named values.

    >>> board = ProgressBoard(total=10 * len(train_iter), xlabel="epoch", desc="train")
    >>> board.update()                                # once per step >>>
    board.add(epoch + 1, {"train loss": 0.31})    # whenever there are values to plot
    >>> board.close()                                 # draws the final figure >>>
    board.history["train loss"]                   # ([x, ...], [y, ...])
    """

    def __init__(
        self,
        total: int,
        *,
        xlabel: str = "epoch",
        ylabel: str | None = None,
        xlim: tuple[float, float] | None = None,
        ylim: tuple[float, float] | None = None,
        yscale: str = "linear",
        desc: str = "",
        live: bool | None = None,
        redraw_every: int = 1,
        figsize: tuple[float, float] = (5.0, 3.0),
    ):
        if total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        self.xlabel, self.ylabel, self.xlim, self.ylim, self.yscale = (
            xlabel,
            ylabel,
            xlim,
            ylim,
            yscale,
        )
        self.figsize, self.redraw_every = figsize, max(1, redraw_every)
        if live is None:
            live = in_notebook() and not os.environ.get("CI") and profile() != "smoke"
        self.live = live
        self.history: dict[str, tuple[list[float], list[float]]] = defaultdict(
            lambda: ([], [])
        )
        self.bar = tqdm(total=total, desc=desc, leave=True, dynamic_ncols=True)
        self._handle = None
        self._image_handle = None
        self._image = None
        self._adds = 0

    def update(self, n: int = 1) -> None:
        """Advance the bar by ``n`` steps."""
        self.bar.update(n)

    def add(self, x: float, values: dict[str, float]) -> None:
        """Record one point per named value at ``x``; show the latest values beside
        the bar."""
        for name, y in values.items():
            if y is None:
                continue
            y = float(y)
            xs, ys = self.history[name]
            xs.append(float(x))
            ys.append(y)
        self.bar.set_postfix(
            {k: f"{v[1][-1]:.4g}" for k, v in self.history.items()}, refresh=False
        )
        self._adds += 1
        if self.live and self._adds % self.redraw_every == 0:
            self._show()

    def show_image(self, image, title: str = "") -> None:
        """Show ``image`` (anything ``imshow`` takes) below the curves, replacing the
        previous one when live; otherwise only the last one is drawn, at :meth:`close`.
        """
        self._image = (image, title)
        if self.live:
            self._display_image()

    def _display_image(self) -> None:
        if self._image is None or not in_notebook():
            return
        from d2lx.plotting import to_numpy_image

        image, title = self._image
        fig = Figure(figsize=(self.figsize[0], self.figsize[0] * 0.7))
        ax = fig.add_subplot()
        ax.imshow(to_numpy_image(image))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        fig.tight_layout()
        self._image_handle = _display(fig, self._image_handle)

    def figure(self) -> Figure:
        """A new figure of every curve so far (not registered with pyplot, so it never
        shows twice)."""
        fig = Figure(figsize=self.figsize)
        ax = fig.add_subplot()
        for name, (xs, ys) in self.history.items():
            finite = [(a, b) for a, b in zip(xs, ys) if math.isfinite(b)]
            style = "-" if len(finite) > 1 else "o"
            ax.plot([a for a, _ in finite], [b for _, b in finite], style, label=name)
        ax.set_xlabel(self.xlabel)
        if self.ylabel:
            ax.set_ylabel(self.ylabel)
        if self.xlim:
            ax.set_xlim(*self.xlim)
        if self.ylim:
            ax.set_ylim(*self.ylim)
        ax.set_yscale(self.yscale)
        if self.history:
            ax.legend()
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig

    def _show(self) -> None:
        if in_notebook():
            self._handle = _display(self.figure(), self._handle)

    def close(self) -> None:
        """Close the bar and draw the final figure (once, in a notebook)."""
        self.bar.close()
        self._show()
        self._display_image()

    def __enter__(self) -> ProgressBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
