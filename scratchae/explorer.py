"""The latent explorer: move a point over a 2-D latent plane and see what the decoder draws there.

Two sliders set the point z = (z1, z2); the decoded image sits next to the map of the test codes, the point marked
on it. Two more sliders pick two test images a and b and a third mixes their codes, z = (1 - t) mu_a + t mu_b,
which moves the same point along the segment between them. With ipywidgets (Colab has it; elsewhere
``pip install scratchae[widgets]``) in a notebook, ``explore`` returns the sliders; without, it returns one static
figure of the same things: the decoded plane as a grid and a row of mixes. Any model with ``encode`` (x -> codes
(N, 2)) and ``decode`` (codes -> images (N, 784) in [0, 1]) works: the dense VAE, the conv VAE, a 2-D autoencoder.
"""
import io

import numpy as np
from matplotlib.figure import Figure

from .backend import device_of, get_xp, to_device, to_numpy
from .plots import CLASS_NAMES, latent_grid, subplots, tile
from .training import encode_all

NO_WIDGETS = ("Sliders need ipywidgets in a notebook (Colab has it; elsewhere pip install ipywidgets), so here is "
              "the same as a static figure: the decoded latent plane, the test codes, and a row of mixes.")


def decode_at(model, z, decode=None):
    """The images that ``decode`` (default model.decode) draws at host points z: (K, 2) -> (K, 28, 28), host.

    z goes to the device and dtype of the model's first parameter, and the images come back in one transfer."""
    _, p, _ = next(iter(model.named_params()))
    xp = get_xp(p)
    zd = to_device(np.asarray(z, dtype=np.float64), xp, device_of(p), p.dtype)  # (K, 2)
    images = (model.decode if decode is None else decode)(zd)  # (K, 784) or (K, 28, 28, 1)
    return to_numpy(xp.reshape(images, (zd.shape[0], 28, 28)))


def mix(z_a, z_b, t):
    """The point a fraction t of the way from z_a to z_b: (1 - t) z_a + t z_b.  z_a, z_b: (..., 2), any xp."""
    return (1 - t) * z_a + t * z_b


def mix_row(model, z_a, z_b, steps=9, decode=None):
    """Decodes of ``steps`` evenly spaced mixes from z_a to z_b (host, (2,) each) -> (steps, 28, 28)."""
    ts = np.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    return decode_at(model, mix(z_a[None, :], z_b[None, :], ts), decode)


def draw_codes(ax, codes, labels, dataset="mnist"):
    """The test codes (N, 2) as a scatter plot on ``ax``, one colour per class."""
    names = CLASS_NAMES.get(dataset, [str(c) for c in range(10)])
    for c in range(10):
        mask = labels == c
        ax.scatter(codes[mask, 0], codes[mask, 1], s=2, alpha=0.4, label=names[c], rasterized=True)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.legend(markerscale=5, fontsize=7, loc="upper right")


def static_figure(model, codes, labels, x_index=(0, 1), limit=3.0, n=15, decode=None):
    """What the sliders show, as one figure: the decoded n x n grid over [-limit, limit]^2, the codes with the two
    chosen images marked, and the decodes of nine mixes between their codes.  Returns the Figure."""
    fig = Figure(figsize=(11, 6))  # outside pyplot, as plots.subplots: nothing stays open
    grid_ax, map_ax, row_ax = fig.add_subplot(2, 2, 1), fig.add_subplot(2, 2, 2), fig.add_subplot(2, 1, 2)
    plane = decode_at(model, latent_grid(n, limit), decode).reshape(n * n, 784)
    grid_ax.imshow(tile(plane, n, n), cmap="gray", vmin=0, vmax=1, extent=(-limit, limit, -limit, limit))
    grid_ax.set_title("what the decoder draws on the plane", fontsize=9)
    draw_codes(map_ax, codes, labels)
    a, b = codes[x_index[0]], codes[x_index[1]]
    map_ax.plot([a[0], b[0]], [a[1], b[1]], "k-o", ms=6)
    map_ax.set_title(f"test codes mu; the segment from image {x_index[0]} to image {x_index[1]}", fontsize=9)
    row = mix_row(model, a, b, 9, decode).reshape(9, 784)
    row_ax.imshow(tile(row, 1, 9), cmap="gray", vmin=0, vmax=1)
    row_ax.set_axis_off()
    row_ax.set_title("decodes of (1 - t) mu_a + t mu_b for t = 0, 1/8, ..., 1", fontsize=9)
    fig.tight_layout()
    return fig


def widgets_available():
    """True inside a notebook kernel (Jupyter, Colab) that can import ipywidgets."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class Explorer:
    """The sliders and the figure they redraw.  ``point`` (2,) is where the decoder is asked; ``image`` (28, 28)
    is what it drew there (both host arrays)."""

    def __init__(self, model, x, labels, *, encode=None, decode=None, limit=3.0, index=(0, 1)):
        import ipywidgets as w

        self.model, self.decode, self.labels = model, decode, labels
        self.codes = encode_all(model, x) if encode is None else to_numpy(encode(x))  # (N, 2)
        step = dict(min=-limit, max=limit, step=0.05, continuous_update=True)
        self.z1, self.z2 = w.FloatSlider(description="z1", **step), w.FloatSlider(description="z2", **step)
        last = self.codes.shape[0] - 1
        self.a = w.IntSlider(description="image a", value=index[0], min=0, max=last)
        self.b = w.IntSlider(description="image b", value=index[1], min=0, max=last)
        self.t = w.FloatSlider(description="mix t", value=0.0, min=0.0, max=1.0, step=0.05)
        self.fig = subplots(1, 2, figsize=(9, 4))[0]
        self.map_ax, self.image_ax = self.fig.axes
        draw_codes(self.map_ax, self.codes, labels)
        self.marker, = self.map_ax.plot([0], [0], "kx", ms=14, mew=3)
        self.segment, = self.map_ax.plot([0, 0], [0, 0], "k:", lw=1)
        self.shown = self.image_ax.imshow(np.zeros((28, 28)), cmap="gray", vmin=0, vmax=1)
        self.image_ax.set_axis_off()
        self.picture = w.Image(format="png")  # the figure as PNG bytes: shows alike in Jupyter, Colab, VS Code
        self.z1.observe(self._moved, "value")
        self.z2.observe(self._moved, "value")
        for s in (self.a, self.b, self.t):
            s.observe(self._mixed, "value")
        self.widget = w.VBox([w.HBox([self.z1, self.z2]), w.HBox([self.a, self.b, self.t]), self.picture])
        self._mixed()

    def _mixed(self, change=None):
        """The mix sliders moved: put the point at (1 - t) mu_a + t mu_b (the z sliders follow)."""
        z = mix(self.codes[self.a.value], self.codes[self.b.value], self.t.value)
        ends = self.codes[[self.a.value, self.b.value]]  # (2, 2)
        self.segment.set_data(ends[:, 0], ends[:, 1])
        self.show(z)

    def _moved(self, change=None):
        self.show(np.array([self.z1.value, self.z2.value]))

    def show(self, z):
        """Decode at z (2,), mark it on the map, set the z sliders to it, and redraw the figure."""
        self.point = np.asarray(z, dtype=np.float64)
        self.image = decode_at(self.model, self.point[None, :], self.decode)[0]
        self.marker.set_data([self.point[0]], [self.point[1]])
        self.shown.set_data(self.image)
        self.image_ax.set_title(f"decoded at z = ({self.point[0]:.2f}, {self.point[1]:.2f})", fontsize=9)
        for slider, value in ((self.z1, self.point[0]), (self.z2, self.point[1])):
            slider.unobserve(self._moved, "value")  # the sliders follow the point without moving it again
            slider.value = float(value)  # a slider clips to its range; the point itself may lie outside
            slider.observe(self._moved, "value")
        png = io.BytesIO()
        self.fig.savefig(png, format="png", dpi=80)
        self.picture.value = png.getvalue()


def explore(model, x, labels, *, encode=None, decode=None, limit=3.0, index=(0, 1)):
    """The latent explorer for ``model`` over the images x (N, 784) on its device and their host labels (N,):
    the sliders' VBox in a notebook with ipywidgets, else (after one sentence) the static figure.

    encode: x -> (N, 2) codes (default: the model's encode, as training.encode_all calls it); decode: codes (K, 2)
    -> images (K, 784) in [0, 1] (default model.decode; pass one that applies a sigmoid to a model that gives
    logits). index: the test images a and b the mix starts from."""
    if widgets_available():
        return Explorer(model, x, labels, encode=encode, decode=decode, limit=limit, index=index).widget
    print(NO_WIDGETS)
    codes = encode_all(model, x) if encode is None else to_numpy(encode(x))
    return static_figure(model, codes, labels, index, limit, decode=decode)
